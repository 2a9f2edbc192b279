"""What people look at: plots and the static HTML report, drawn from the results frame."""
