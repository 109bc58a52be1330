/* stratify: the "Show All" / "Failed Only" filter of GX validation pages, without jQuery. */
function stratifyShowSucceeded(show) {
  var display = show ? "" : "none";
  document.querySelectorAll(".hide-succeeded-validation-target-child").forEach(function (el) {
    if (el.parentElement) { el.parentElement.style.display = display; }
  });
  document.querySelectorAll(".hide-succeeded-validation-target").forEach(function (el) { el.style.display = display; });
  document.querySelectorAll(".hide-succeeded-validations-column-section-target-child").forEach(function (el) {
    var section = el.parentElement && el.parentElement.parentElement;
    if (!section) { return; }
    section.style.display = display;
    if (section.id) {
      document.querySelectorAll('a[href$="#' + section.id + '"]').forEach(function (a) { a.style.display = display; });
    }
  });
}
function stratifyMarkActive(label) {
  if (!label || !label.parentElement) { return; }
  label.parentElement.querySelectorAll("label").forEach(function (l) { l.classList.remove("active"); });
  label.classList.add("active");
}
function showAllValidations() { stratifyShowSucceeded(true); stratifyMarkActive(window.event && window.event.currentTarget); }
function hideSucceededValidations() { stratifyShowSucceeded(false); stratifyMarkActive(window.event && window.event.currentTarget); }
