// Automatic import settings: show only the fields the chosen authentication and cadence use.
// Without this script every field shows, each labelled with what it is for.
(function () {
  "use strict";

  function checkedValue(form, name) {
    var input = form.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : "";
  }

  function update(form) {
    var auth = checkedValue(form, "auth");
    form.querySelectorAll(".remote-auth-field").forEach(function (block) {
      block.hidden = block.dataset.auth.split(" ").indexOf(auth) === -1;
    });
    var daily = form.querySelector(".remote-daily-hour");
    if (daily) {
      daily.hidden = checkedValue(form, "cadence") !== "daily";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("remote-form");
    if (!form) {
      return;
    }
    form.addEventListener("change", function () { update(form); });
    update(form);
  });
})();
