// Renders /openapi.json as a list of operations: parameters, request body,
// responses with their media types and schemas. Text is inserted with
// textContent only, never as HTML.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function schemaName(s) {
  if (!s) return "";
  if (s.$ref) return s.$ref.split("/").pop();
  if (s.type === "array") return schemaName(s.items) + "[]";
  if (Array.isArray(s.type)) return s.type.join(" | ");
  return s.type || "";
}

function constraints(s) {
  if (!s) return "";
  const parts = [];
  for (const k of ["format", "pattern", "minLength", "maxLength", "minimum", "maximum"]) {
    if (s[k] !== undefined) parts.push(k + " " + s[k]);
  }
  if (s.enum) parts.push("one of " + s.enum.join(", "));
  return parts.join("; ");
}

function table(head, rows) {
  const t = el("table");
  const h = t.insertRow();
  for (const c of head) h.appendChild(el("th", c));
  for (const r of rows) {
    const row = t.insertRow();
    for (const c of r) row.insertCell().textContent = c;
  }
  return t;
}

function operation(path, method, op, schemas) {
  const d = el("details");
  const s = el("summary");
  s.appendChild(el("span", method.toUpperCase(), "method"));
  s.appendChild(el("span", path, "path"));
  s.appendChild(document.createTextNode("  " + (op.summary || "")));
  d.appendChild(s);
  if (op.description) d.appendChild(el("p", op.description));
  if (op.security && op.security.length) d.appendChild(el("p", "Needs Authorization: Bearer <token>."));
  const params = op.parameters || [];
  if (params.length) {
    d.appendChild(el("h4", "Parameters"));
    d.appendChild(table(["name", "in", "required", "type", "constraints", "description"],
      params.map(p => [p.name, p.in, p.required ? "yes" : "no", schemaName(p.schema),
        constraints(p.schema), p.description || ""])));
  }
  if (op.requestBody) {
    d.appendChild(el("h4", "Request body"));
    for (const [media, c] of Object.entries(op.requestBody.content || {})) {
      const name = schemaName(c.schema);
      d.appendChild(el("p", media + ": " + name));
      const ref = c.schema && c.schema.$ref ? schemas[name] : null;
      if (ref && ref.properties) {
        const req = new Set(ref.required || []);
        d.appendChild(table(["field", "required", "type", "constraints", "description"],
          Object.entries(ref.properties).map(([f, p]) => [f, req.has(f) ? "yes" : "no",
            schemaName(p), constraints(p), p.description || ""])));
      }
    }
  }
  d.appendChild(el("h4", "Responses"));
  d.appendChild(table(["status", "media type", "body", "description"],
    Object.entries(op.responses || {}).flatMap(([status, r]) => {
      const content = Object.entries(r.content || {});
      if (!content.length) return [[status, "", "", r.description || ""]];
      return content.map(([media, c]) => [status, media, schemaName(c.schema), r.description || ""]);
    })));
  return d;
}

fetch("/openapi.json").then(r => r.json()).then(doc => {
  const root = document.getElementById("ops");
  root.textContent = "";
  const schemas = (doc.components && doc.components.schemas) || {};
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op, schemas));
    }
  }
  for (const [tag, ops] of byTag) {
    root.appendChild(el("h2", tag));
    for (const o of ops) root.appendChild(o);
  }
}).catch(e => {
  document.getElementById("ops").textContent = "Could not load /openapi.json: " + e;
});
