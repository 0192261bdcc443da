// Refreshes the page's content every data-refresh-ms milliseconds (set on <body>) while the
// "live" box is checked, without reloading: the page is fetched again and its <main>
// replaces the shown one. Nothing is refreshed while a field inside <main> has the focus,
// so that typing in a filter or a step number is never lost.
(function () {
  "use strict";
  var ms = parseInt(document.body.getAttribute("data-refresh-ms"), 10);
  var live = document.getElementById("live");
  if (!ms || !live) {
    return;
  }
  live.checked = sessionStorage.getItem("wfdash-live") !== "off";
  live.addEventListener("change", function () {
    sessionStorage.setItem("wfdash-live", live.checked ? "on" : "off");
  });
  function busy() {
    var a = document.activeElement;
    var main = document.getElementById("main");
    return a && main.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName);
  }
  function refresh() {
    if (!live.checked || document.hidden || busy()) {
      setTimeout(refresh, ms);
      return;
    }
    fetch(location.href, { credentials: "same-origin", headers: { "X-Wfdash-Refresh": "1" } })
      .then(function (resp) {
        if (!resp.ok) {
          throw new Error("status " + resp.status);
        }
        return resp.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var shown = document.getElementById("main");
        if (fresh && shown && !busy()) {
          shown.replaceWith(document.adoptNode(fresh));
          var footer = doc.querySelector("footer");
          if (footer) {
            document.querySelector("footer").textContent = footer.textContent;
          }
        }
      })
      .catch(function () {})
      .then(function () {
        setTimeout(refresh, ms);
      });
  }
  setTimeout(refresh, ms);
})();
