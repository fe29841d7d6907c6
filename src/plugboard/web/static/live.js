// A live page (a VM's, a network's, a host's networks): it follows its Server-Sent Events
// (the host's events about what the page shows) and, on each, tells htmx to re-fetch the
// live parts (the elements with hx-trigger="live-changed from:body"). While a plan or a
// problem is shown, a form is being edited or a request is under way, the re-fetch waits
// (the page says so): it would throw away what the user is doing. EventSource reconnects by
// itself.
(function () {
  "use strict";
  var holder = document.querySelector("[data-live]");
  if (!holder || !window.EventSource) return;
  var note = document.getElementById("live-note");
  var waiting = false;

  // What the user is doing on the page: a plan or a problem shown, an edit form open.
  function engaged() {
    return holder.querySelector(".plan, .problem, details[open]") !== null;
  }
  function wait() {
    waiting = true;
    if (note) { note.hidden = false; note.textContent = "This changed meanwhile: the page follows once you are done here."; }
  }
  function refresh() {
    if (engaged() || document.querySelector(".htmx-request") !== null) return wait();
    waiting = false;
    if (note) note.hidden = true;
    document.body.dispatchEvent(new CustomEvent("live-changed"));
  }
  // The user may have opened a form while the re-fetch was on its way: it is not swapped in.
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    var config = evt.detail.requestConfig;
    var cause = config && config.triggeringEvent;
    if (cause && cause.type === "live-changed" && engaged()) {
      evt.detail.shouldSwap = false;
      wait();
    }
  });
  // What the user's own change said ("Applied: ...", "Added nic2 ...") outlives the re-fetch
  // that the change itself sets off, for a while: it is put back into its card.
  var KEEP_NOTES_MS = 15000;
  var notes = [];
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    var config = evt.detail.requestConfig;
    var cause = config && config.triggeringEvent;
    if (!evt.detail.shouldSwap) return;
    if (!cause || cause.type !== "live-changed") { notes = []; return; }
    var now = Date.now();
    document.querySelectorAll("#vm-live .ok-text[role=status]").forEach(function (el) {
      var card = el.closest("article[id]");
      var at = Number(el.getAttribute("data-at")) || now;
      if (now - at < KEEP_NOTES_MS) notes.push({ card: card ? card.id : null, at: at, node: el.cloneNode(true) });
    });
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    var kept = notes;
    notes = [];
    kept.forEach(function (note) {
      note.node.setAttribute("data-at", String(note.at));
      var card = note.card ? document.getElementById(note.card) : null;
      var facts = card ? card.querySelector(".vnic-facts") : null;
      if (facts && !card.querySelector(".ok-text[role=status]")) facts.after(note.node);
      else if (!note.card && !document.querySelector("#vm-live > .ok-text[role=status]")) {
        var live = document.getElementById("vm-live");
        var cards = live && live.querySelector(".cards");
        if (cards) cards.before(note.node);
      }
    });
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    if (waiting) refresh();
  });
  document.addEventListener("toggle", function () {
    if (waiting) refresh();
  }, true);
  var source = new EventSource(holder.getAttribute("data-live"));
  source.addEventListener("changed", refresh);
  window.addEventListener("pagehide", function () { source.close(); });
})();
