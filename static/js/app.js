// Drop zone for the Import tab: drag a file in, see its name and size, refuse other types.
(function () {
  "use strict";

  var ACCEPTED = /\.(xlsx|csv|txt|tsv)$/i;

  function formatSize(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function setup(form) {
    var zone = form.querySelector("#dropzone");
    var input = form.querySelector("#id_file");
    var label = form.querySelector("#dropzone-file");
    var maxBytes = parseInt(form.dataset.maxBytes || "0", 10);

    function show(file) {
      zone.classList.remove("invalid");
      if (!file) {
        label.textContent = "";
        zone.classList.remove("has-file");
        return true;
      }
      if (!ACCEPTED.test(file.name)) {
        zone.classList.add("invalid");
        label.textContent = file.name + " is not an .xlsx or .csv file." +
          (/\.xls$/i.test(file.name) ? " Open it in Excel and save it as .xlsx (Excel Workbook)." : "");
        input.value = "";
        return false;
      }
      if (maxBytes && file.size > maxBytes) {
        zone.classList.add("invalid");
        label.textContent = file.name + " is " + formatSize(file.size) + "; the limit is " + formatSize(maxBytes) + ".";
        input.value = "";
        return false;
      }
      zone.classList.add("has-file");
      label.textContent = file.name + " · " + formatSize(file.size);
      return true;
    }

    // Moving over the zone's own text fires dragleave/dragenter pairs: count them, so that
    // the highlight goes only when the file really leaves the zone.
    var depth = 0;
    zone.addEventListener("dragenter", function (event) {
      event.preventDefault();
      depth += 1;
      zone.classList.add("dragover");
    });
    zone.addEventListener("dragover", function (event) {
      event.preventDefault();
      zone.classList.add("dragover");
    });
    zone.addEventListener("dragleave", function () {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("dragover");
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      depth = 0;
      zone.classList.remove("dragover");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      if (files.length > 1) {
        zone.classList.add("invalid");
        label.textContent = "Drop one file at a time.";
        return;
      }
      var transfer = new DataTransfer();
      transfer.items.add(files[0]);
      input.files = transfer.files;
      show(files[0]);
    });
    // The whole zone opens the file chooser on a click; from the keyboard, the file input
    // itself (focusable, behind the "Choose a file" label) does.
    zone.addEventListener("click", function (event) {
      if (event.target === input || event.target.closest("label")) return;
      input.click();
    });
    input.addEventListener("change", function () { show(input.files[0]); });
    form.addEventListener("submit", function (event) {
      var file = input.files[0];
      if (file && !show(file)) {
        event.preventDefault();
        return;
      }
      var button = form.querySelector("#preview-button");
      if (button) {
        button.disabled = true;
        button.textContent = "Uploading…";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("preview-form");
    if (form) setup(form);
    // A submit button says what it is doing and is not clicked twice.
    document.querySelectorAll("form.apply-form").forEach(function (applyForm) {
      applyForm.addEventListener("submit", function () {
        var button = applyForm.querySelector("button[type=submit]");
        if (button) {
          setTimeout(function () { button.disabled = true; button.textContent = "Starting import…"; }, 0);
        }
      });
    });
  });
})();
