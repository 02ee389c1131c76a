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
  // A list filter's search box (governance/widgets/search_choice.html) is a combobox: the
  // listbox htmx fills as one types; arrows move through it, Enter or a click chooses, Escape
  // closes. The box shows the chosen one's name and the request carries its id.
  var COMBOBOX = ".search-choice input[role=combobox]";
  function listboxOf(input) { return document.getElementById(input.getAttribute("aria-controls")); }
  function optionsOf(input) { return Array.prototype.slice.call(listboxOf(input).querySelectorAll("[role=option]")); }
  function showList(input, open) {
    var list = listboxOf(input);
    var shown = open && list.querySelector("[role=option]") !== null;
    list.hidden = !shown;
    input.setAttribute("aria-expanded", shown ? "true" : "false");
    if (!shown) input.removeAttribute("aria-activedescendant");
  }
  function activate(input, option) {
    optionsOf(input).forEach(function (each) { each.setAttribute("aria-selected", each === option ? "true" : "false"); });
    input.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({block: "nearest"});
  }
  function choose(input, option) {
    input.value = option.getAttribute("data-name");
    input.setAttribute("data-chosen", option.getAttribute("data-value"));
    input.setAttribute("data-chosen-name", option.getAttribute("data-name"));
    var detail = document.getElementById(input.id + "_chosen");
    var told = option.querySelector(".muted");
    if (detail) detail.textContent = told ? told.textContent : "";
    showList(input, false);
    input.dispatchEvent(new Event("change", {bubbles: true}));  // the filter form applies it
  }
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches(COMBOBOX)) return;
    var options = optionsOf(input);
    var open = input.getAttribute("aria-expanded") === "true";
    var active = document.getElementById(input.getAttribute("aria-activedescendant") || "");
    var at = options.indexOf(active);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!open) {
        if (window.htmx) window.htmx.trigger(input, "choices-open");
        return;
      }
      var step = event.key === "ArrowDown" ? 1 : -1;
      activate(input, options[(at + step + options.length) % options.length]);
    } else if (event.key === "Enter" && open && active) {
      event.preventDefault();
      choose(input, active);
    } else if (event.key === "Escape" && open) {
      event.preventDefault();
      showList(input, false);
    }
  });
  document.addEventListener("mousedown", function (event) {
    var option = event.target.closest ? event.target.closest(".search-choice [role=option]") : null;
    if (!option) return;
    event.preventDefault();  // the box keeps the focus
    choose(option.closest(".search-choice").querySelector("input[role=combobox]"), option);
  });
  document.addEventListener("focusout", function (event) {
    if (event.target.matches && event.target.matches(COMBOBOX)) showList(event.target, false);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var list = event.detail.target;
    var input = list && list.matches && list.matches(".search-choice [role=listbox]")
      ? list.closest(".search-choice").querySelector("input[role=combobox]") : null;
    if (input) showList(input, document.activeElement === input);
  });
  // A box still showing the chosen one's name sends its id (?policy=<id>); typed text is
  // sent as it is (names containing it), as without JavaScript.
  document.addEventListener("htmx:configRequest", function (event) {
    var scope = event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (!scope) return;
    scope.querySelectorAll(COMBOBOX + "[data-chosen]").forEach(function (input) {
      if (input.value === input.getAttribute("data-chosen-name")) {
        event.detail.parameters[input.name] = input.getAttribute("data-chosen");
      }
    });
  });
})();
