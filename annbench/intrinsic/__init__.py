"""Intrinsic dimension of a point set: pointwise LID, PCA, TwoNN, and the exact self-join
they rest on. Knows nothing of datasets or files: arrays in, numbers out."""
