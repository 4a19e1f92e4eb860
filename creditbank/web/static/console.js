// The console's small helpers (progressive enhancement: every page works without them).
// 1. An upload form sends its file with a progress bar (bytes sent, then "importing…"), and shows
//    the answer page as the browser would have. Without script the form posts normally.
// 2. A "print" button prints the page (the activation slip).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var box = document.getElementById(form.getAttribute("data-progress"));
      if (!box || !window.FormData || !window.XMLHttpRequest) { return; }
      event.preventDefault();
      var bar = box.querySelector("progress");
      var words = box.querySelector("[data-status]");
      var button = form.querySelector("button[type=submit]");
      box.hidden = false;
      if (button) { button.disabled = true; }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable && bar) { bar.max = e.total; bar.value = e.loaded; }
      });
      xhr.upload.addEventListener("load", function () {
        if (bar) { bar.removeAttribute("value"); }
        if (words) { words.textContent = words.getAttribute("data-importing"); }
      });
      xhr.addEventListener("load", function () {
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () { form.submit(); });
      xhr.send(new FormData(form));
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
});
