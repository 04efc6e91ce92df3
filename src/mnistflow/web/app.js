// The drawing page of `mnistflow serve`. It only draws and shows: the server reads the picture
// (the same preprocessing as `mnistflow predict`) and answers, so the page, the API and the
// command give one answer. Pointer events cover the mouse, a pen and touch.
"use strict";

const PEN = 18; // stroke width on the 280-pixel canvas: MNIST's strokes are about 1/8 of the digit's height
const LIVE_MS = 400; // while a stroke goes on, ask again at most this often

const pad = document.getElementById("pad");
const ink = pad.getContext("2d");
const picker = document.getElementById("model");
const upload = document.getElementById("upload");
const show = {
  status: document.getElementById("status"),
  result: document.getElementById("result"),
  digit: document.getElementById("digit"),
  top: document.getElementById("top"),
  square: document.getElementById("square"),
  error: document.getElementById("error"),
  about: document.getElementById("about"),
  seen: document.getElementById("seen"),
};

let input = { kind: "drawing", empty: true }; // or { kind: "upload", file }
let drawing = null; // the pointer drawing now: { id, x, y }
let asked = 0; // the number of the latest request: older answers are dropped
let inFlight = false;
let lastLive = 0;

function blank() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
}

function where(event) {
  const box = pad.getBoundingClientRect();
  return { x: ((event.clientX - box.left) * pad.width) / box.width, y: ((event.clientY - box.top) * pad.height) / box.height };
}

function line(from, to) {
  ink.strokeStyle = "#000";
  ink.lineWidth = PEN;
  ink.lineCap = "round";
  ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(from.x, from.y);
  ink.lineTo(to.x, to.y);
  ink.stroke();
}

pad.addEventListener("pointerdown", (event) => {
  if (drawing) return;
  event.preventDefault();
  if (input.kind !== "drawing") {
    blank();
    upload.value = "";
  }
  input = { kind: "drawing", empty: false };
  pad.setPointerCapture(event.pointerId);
  const at = where(event);
  drawing = { id: event.pointerId, ...at };
  line(at, at);
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing || event.pointerId !== drawing.id) return;
  const points = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const point of points.length ? points : [event]) {
    const at = where(point);
    line(drawing, at);
    drawing.x = at.x;
    drawing.y = at.y;
  }
  if (!inFlight && performance.now() - lastLive > LIVE_MS) {
    lastLive = performance.now();
    ask();
  }
});

function endStroke(event) {
  if (!drawing || event.pointerId !== drawing.id) return;
  drawing = null;
  ask();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

document.getElementById("clear").addEventListener("click", () => {
  blank();
  upload.value = "";
  input = { kind: "drawing", empty: true };
  done(next()); // an answer still on its way is for the old drawing
  waiting("Draw a digit in the box.");
});

upload.addEventListener("change", () => {
  const file = upload.files[0];
  if (!file) return;
  input = { kind: "upload", file };
  preview(file);
  ask();
});

picker.addEventListener("change", () => ask());

function preview(file) {
  // The picture, fitted into the box, so the user sees what was sent; the server reads the file itself.
  blank();
  const picture = new Image();
  const address = URL.createObjectURL(file);
  picture.onload = () => {
    const scale = Math.min(pad.width / picture.naturalWidth, pad.height / picture.naturalHeight);
    const w = picture.naturalWidth * scale;
    const h = picture.naturalHeight * scale;
    ink.drawImage(picture, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    URL.revokeObjectURL(address);
  };
  picture.onerror = () => URL.revokeObjectURL(address);
  picture.src = address;
}

function body() {
  if (input.kind === "upload") return Promise.resolve({ data: input.file, type: input.file.type || "application/octet-stream" });
  return new Promise((resolve) => pad.toBlob((blob) => resolve({ data: blob, type: "image/png" }), "image/png"));
}

// Requests are numbered (body's data-asked); data-answered is the number of the one shown.
function next() {
  asked += 1;
  document.body.dataset.asked = asked;
  return asked;
}

function done(number) {
  document.body.dataset.answered = number;
}

async function ask() {
  const number = next();
  if (input.kind === "drawing" && input.empty) {
    failed("The canvas is empty: draw a digit first.");
    done(number);
    return;
  }
  inFlight = true;
  try {
    const { data, type } = await body();
    const query = picker.value ? `?model=${encodeURIComponent(picker.value)}` : "";
    const response = await fetch(`/api/predict${query}`, { method: "POST", headers: { "Content-Type": type }, body: data });
    const answer = await response.json().catch(() => ({ error: `the server answered ${response.status} without a reason` }));
    if (number !== asked) return;
    if (!response.ok) failed(named(answer.error || `the server answered ${response.status}`));
    else render(answer);
    done(number);
  } catch (error) {
    if (number === asked) {
      failed(`No answer from the server (${error.message}); is \`mnistflow serve\` still running?`);
      done(number);
    }
  } finally {
    inFlight = false;
  }
}

// The server names an uploaded file "the picture"; the user knows it by its name.
function named(message) {
  return input.kind === "upload" ? message.replace(/^the picture:/, `${input.file.name}:`) : message;
}

function percent(p) {
  return `${(100 * p).toFixed(1)}%`;
}

function waiting(message) {
  show.status.textContent = message;
  show.result.hidden = true;
  show.error.hidden = true;
}

function failed(message) {
  show.status.textContent = "No answer.";
  show.result.hidden = true;
  show.error.hidden = false;
  show.error.textContent = message;
}

function render(answer) {
  const prediction = answer.predictions[0];
  show.error.hidden = true;
  show.result.hidden = false;
  show.result.dataset.model = answer.model.key;
  show.status.textContent = `Answered by ${answer.model.name}.`;
  show.digit.textContent = prediction.digit;
  show.top.replaceChildren(
    ...prediction.top.map(({ digit, probability }) => {
      const row = document.createElement("li");
      row.dataset.digit = digit;
      row.dataset.probability = probability;
      const name = document.createElement("span");
      name.textContent = digit;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${(100 * probability).toFixed(2)}%`;
      bar.append(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = percent(probability);
      row.append(name, bar, value);
      return row;
    }),
  );
  const square = prediction.square;
  const yes = square.answer ? "yes" : "no";
  show.square.dataset.answer = yes;
  if ("probability" in square) {
    show.square.dataset.probability = square.probability;
    show.square.textContent = `Perfect square: ${yes} (probability ${percent(square.probability)}, yes from ${percent(answer.square.threshold)})`;
  } else {
    delete show.square.dataset.probability;
    show.square.textContent = `Perfect square: ${yes} (${prediction.digit} is${square.answer ? "" : " not"} one of ${answer.square.positive.join(", ")})`;
  }
  seen(answer.mnist);
  about(answer.model, answer.square);
}

function seen(mnist) {
  const context = show.seen.getContext("2d");
  const image = context.createImageData(28, 28);
  mnist.flat().forEach((value, i) => {
    const level = Math.round(255 * value);
    image.data.set([level, level, level, 255], 4 * i);
  });
  context.putImageData(image, 0, 0);
}

function accuracy(value) {
  return value === null || value === undefined ? "not recorded" : `${(100 * value).toFixed(2)}%`;
}

function about(model, square) {
  const rows = [["Model", model.name]];
  if (model.registered_model) {
    const aliases = model.aliases && model.aliases.length ? ` (${model.aliases.map((a) => "@" + a).join(", ")})` : "";
    rows.push(["Registry", `${model.registered_model} version ${model.version}${aliases}`]);
  }
  if (model.checkpoint) rows.push(["Checkpoint", model.checkpoint]);
  if (!model.registered_model && !model.checkpoint) rows.push(["Source", model.source]);
  rows.push(["Validation accuracy", accuracy(model.val_acc)], ["Test accuracy", accuracy(model.test_acc)]);
  if (model.chosen_for) rows.push(["Chosen for", model.chosen_for]);
  if (model.note) rows.push(["Note", model.note]);
  rows.push(["Perfect square", square.method === "predicted digit" ? `from the digit (${square.source})` : `${square.method} (${square.source})`]);
  show.about.replaceChildren(
    ...rows.flatMap(([term, text]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = text;
      dd.dataset.field = term.toLowerCase().replace(/ /g, "-");
      return [dt, dd];
    }),
  );
}

async function start() {
  blank();
  try {
    const response = await fetch("/api/models");
    const listing = await response.json();
    for (const model of listing.models) {
      const option = document.createElement("option");
      option.value = model.key;
      option.textContent = model.label;
      option.selected = model.key === listing.default;
      picker.append(option);
    }
    waiting("Draw a digit in the box.");
  } catch (error) {
    failed(`No answer from the server (${error.message}); is \`mnistflow serve\` still running?`);
  }
  done(next());
  document.body.dataset.ready = "true";
}

start();
