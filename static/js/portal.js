// Small conveniences of the admin portal; every page works without them.
(function () {
  "use strict";

  // "Select all" ticks every row of its table (bulk Reprocess).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) return;
    var table = box.closest("table");
    table.querySelectorAll("tbody input[type=checkbox][name=ids]").forEach(function (row) {
      row.checked = box.checked;
    });
    // Gmail's offer: all on this page are ticked; select every row the filter matches?
    var results = box.closest("#results");
    var banner = results && results.querySelector("[data-select-all-banner]");
    if (banner) banner.hidden = !box.checked;
  });

  // "Copy link" puts the My Access link on the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // Enter in a picker's search box searches instead of submitting the whole form.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !event.target.matches || !event.target.matches(".picker input[type=search]")) return;
    event.preventDefault();
    if (!window.htmx) {
      event.target.closest(".picker").querySelector("button[name=_search]").click();
    }
  });
})();
