// Draws one page as SVG: the image (or, for a document page the browser has no picture of, a blank sheet with each
// word written in its box) with the polygons of its lines and words on top, in the image's own pixel coordinates.

const SVG = "http://www.w3.org/2000/svg";
const DOUBTFUL = 0.8; // a line read with less confidence is outlined in red

function node(name, attrs = {}, parent) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

const points = (polygon) => (polygon || []).map((p) => `${p.x || 0},${p.y || 0}`).join(" ");

/** Confidence 0..1 as a colour from red (low) to green (high), so doubtful readings stand out. */
export function confidenceColour(confidence) {
  const c = Math.max(0, Math.min(1, confidence || 0));
  return `hsl(${Math.round(c * 120)}, 70%, 40%)`;
}

function writeWord(svg, word) {
  const xs = word.polygon.map((p) => p.x || 0), ys = word.polygon.map((p) => p.y || 0);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const text = node("text", {
    x: x0, y: y1 - (y1 - y0) * 0.2, "font-size": (y1 - y0) * 0.8, textLength: Math.max(1, x1 - x0),
    lengthAdjust: "spacingAndGlyphs", class: "page-word-text",
  }, svg);
  text.textContent = word.text;
}

/**
 * An <svg> of one page.
 * @param {{width:number, height:number, lines:Array, imageUrl?:string, label:string}} page
 * lines: TextLine objects (polygon, words[].polygon, text, confidence).
 */
export function drawPage(page) {
  const svg = node("svg", {
    viewBox: `0 0 ${page.width} ${page.height}`, class: "page", role: "img", "aria-label": page.label,
    "data-width": page.width, "data-height": page.height,
  });
  if (page.imageUrl) {
    node("image", { href: page.imageUrl, x: 0, y: 0, width: page.width, height: page.height }, svg);
  } else {
    node("rect", { x: 0, y: 0, width: page.width, height: page.height, class: "sheet" }, svg);
  }
  const words = node("g", { class: "words" }, svg);
  const lines = node("g", { class: "lines" }, svg);
  page.lines.forEach((line, i) => {
    const doubtful = (line.confidence || 0) < DOUBTFUL;
    const poly = node("polygon", {
      points: points(line.polygon), class: doubtful ? "line-box doubtful" : "line-box", "data-line": i,
    }, lines);
    node("title", {}, poly).textContent = `${line.text} (${(line.confidence || 0).toFixed(2)})`;
    for (const word of line.words || []) {
      if (!word.polygon || word.polygon.length < 3) continue;
      if (!page.imageUrl) writeWord(words, word);
      const w = node("polygon", { points: points(word.polygon), class: "word-box" }, words);
      node("title", {}, w).textContent = `${word.text} (${(word.confidence || 0).toFixed(2)})`;
    }
  });
  return svg;
}
