// Status that updates itself (governance/templatetags/live.py): a live region holds still
// while a confirmation is open in it, since re-reading the page would take the question
// away from under the reader. Both portals; every page works without it.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.getAttribute || elt.getAttribute("data-live") !== "polling") return;
    if (elt.querySelector("#confirm")) event.preventDefault();
  });
})();
