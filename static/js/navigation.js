// Folding navigation and filters on narrow screens. Loaded in <head> without defer so the
// "js" class is set before the page is drawn; without JavaScript everything stays unfolded.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function toggle(button, target, openClass) {
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", open ? "true" : "false");
    target.classList.toggle(openClass, open);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.menu-toggle, button.filters-toggle") : null;
    if (!button) return;
    if (button.classList.contains("menu-toggle")) {
      toggle(button, document.body, "menu-open");
    } else {
      var form = document.getElementById(button.getAttribute("aria-controls"));
      if (form) toggle(button, form, "is-open");
    }
  });
})();
