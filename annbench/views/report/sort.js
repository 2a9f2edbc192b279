// Click a column heading to sort its table; numbers sort as numbers. No dependencies.
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (heading, column) {
    heading.addEventListener("click", function () {
      var body = table.tBodies[0];
      var ascending = heading.dataset.order !== "asc";
      heading.dataset.order = ascending ? "asc" : "desc";
      var value = function (row) {
        var text = row.cells[column].textContent.replace(/[,★]/g, "").trim();
        var number = parseFloat(text);
        return isNaN(number) ? text : number;
      };
      Array.from(body.rows)
        .sort(function (a, b) {
          var x = value(a), y = value(b);
          var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === "number" ? -1 : 1;
          return ascending ? order : -order;
        })
        .forEach(function (row) { body.appendChild(row); });
    });
  });
});
