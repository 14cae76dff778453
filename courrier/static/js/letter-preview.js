// The signing form's letter, filled in as the supporter types, in the letter language they choose.
//
// Without JavaScript the page shows the model letter with its blanks named, and the
// "edit the whole letter" textarea inside <details>: this script only enhances that.
// It mirrors courrier/campaigns/letters.py (placeholder_values and fill); the phrases,
// the date and the named blanks come from the server in each letter's own language
// (the "letters-data" JSON), so the preview says what the letter will say.
(function () {
  "use strict";

  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  var form = document.querySelector("form.sign-form");
  var dataElement = document.getElementById("letters-data");
  var preview = document.getElementById("letter-preview");
  if (!form || !dataElement || !preview) return;

  var letters = JSON.parse(dataElement.textContent);
  var subjectElement = document.getElementById("letter-preview-subject");
  var bodyField = form.elements.namedItem("letter_body");
  var PLACEHOLDER = /\{([a-z_]+)\}/g;
  var EXTRA_BLANK_LINES = /\n[ \t]*\n(?:[ \t]*\n)+/g;

  function value(name) {
    var field = form.elements.namedItem(name);
    return field && typeof field.value === "string" ? field.value.trim() : "";
  }

  function letterLanguage() {
    var chosen = value("letter_language");
    return letters[chosen] ? chosen : Object.keys(letters)[0];
  }

  // "%(city)s, %(date)s" with {city: ..., date: ...}: Python's named interpolation.
  function interpolate(phrase, values) {
    return phrase.replace(/%\((\w+)\)s/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
  }

  function placeholderValues(letter) {
    var phrases = letter.phrases;
    var blanks = letter.blanks;
    var fullName = (value("first_name") + " " + value("last_name")).trim();
    var organisation = value("organisation");
    var role = value("organisation_role");
    var city = value("city");
    var sentence = value("personal_sentence");
    var name = fullName || blanks.full_name;
    var signature;
    if (organisation) {
      signature = interpolate(phrases.for_organisation, { organisation: organisation }) + "\n";
      signature += role ? interpolate(phrases.name_and_role, { name: name, role: role }) : name;
    } else {
      signature = fullName || blanks.signature;
    }
    return {
      signatory: organisation || fullName || blanks.signatory,
      full_name: name,
      personal_sentence: sentence || blanks.personal_sentence,
      place_and_date: city
        ? interpolate(phrases.place_and_date, { city: city, date: phrases.date })
        : blanks.place_and_date,
      signature: signature,
      city: city || blanks.city,
      date: phrases.date,
    };
  }

  function fill(template, values) {
    var text = template.replace(/\r\n/g, "\n").replace(PLACEHOLDER, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    });
    return text.replace(EXTRA_BLANK_LINES, "\n\n").trim();
  }

  // Paragraphs and line breaks as Django's linebreaks filter makes them; text only, never HTML.
  function show(text) {
    var paragraphs = text.split(/\n{2,}/);
    preview.textContent = "";
    paragraphs.forEach(function (paragraph) {
      var p = document.createElement("p");
      paragraph.split("\n").forEach(function (line, index) {
        if (index) p.appendChild(document.createElement("br"));
        p.appendChild(document.createTextNode(line));
      });
      preview.appendChild(p);
    });
  }

  function normalised(text) {
    return text.replace(/\r\n|\r/g, "\n").trim();
  }

  // The textarea holds a model letter until the supporter changes it.
  function isUnedited() {
    if (!bodyField) return true;
    var current = normalised(bodyField.value);
    return current === "" || Object.keys(letters).some(function (code) {
      return normalised(letters[code].body) === current;
    });
  }

  function update() {
    var language = letterLanguage();
    var letter = letters[language];
    var values = placeholderValues(letter);
    var template = bodyField && !isUnedited() ? bodyField.value : letter.body;
    show(fill(template, values));
    preview.lang = language;
    if (subjectElement) {
      subjectElement.textContent = fill(letter.subject, values);
      subjectElement.lang = language;
    }
  }

  var languageField = form.elements.namedItem("letter_language");
  if (languageField) {
    languageField.addEventListener("change", function () {
      // An untouched letter follows the language; one the supporter edited is theirs to keep.
      if (bodyField && isUnedited()) bodyField.value = letters[letterLanguage()].body;
      update();
    });
  }
  form.addEventListener("input", update);

  // An unchanged letter is left out of the POST: the model letter goes, and signing stays one INSERT.
  form.addEventListener("submit", function () {
    if (bodyField && isUnedited()) bodyField.disabled = true;
  });
  // Back from the next page (the browser's page cache), the field must be usable again.
  window.addEventListener("pageshow", function () {
    if (bodyField) bodyField.disabled = false;
  });

  update();
})();
