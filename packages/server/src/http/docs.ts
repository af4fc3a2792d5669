/**
 * `/docs`: the served OpenAPI document as one self-contained HTML page,
 * rendered here on the server (no script, no CDN): every path and method
 * with its parameters, bodies and answers, then every schema.
 */

type Json = { [key: string]: unknown };

const esc = (value: unknown) =>
  String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

const anchor = (text: string) => text.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** A schema as a short type expression, with links to named schemas. */
function typeText(schema: unknown): string {
  if (!schema || typeof schema !== 'object') return '';
  const s = schema as Json;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.split('/').pop()!;
    return `<a href="#schema-${anchor(name)}">${esc(name)}</a>`;
  }
  const union = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(union)) {
    const consts = union.map((u) => (u as Json).const);
    if (consts.every((c) => c !== undefined))
      return consts.map((c) => `<code>${esc(JSON.stringify(c))}</code>`).join(' | ');
    return union.map(typeText).join(' | ');
  }
  if (s.const !== undefined) return `<code>${esc(JSON.stringify(s.const))}</code>`;
  if (Array.isArray(s.enum)) return s.enum.map((e) => `<code>${esc(JSON.stringify(e))}</code>`).join(' | ');
  if (s.type === 'array') return `array of ${typeText(s.items)}`;
  if (s.type === 'object' && s.properties) return 'object';
  if (s.type === 'object' && s.additionalProperties) return `map of ${typeText(s.additionalProperties)}`;
  const format = s.format ? ` (${esc(s.format)})` : '';
  return `${esc(s.type ?? 'any')}${format}`;
}

function propertiesTable(schema: Json): string {
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  const rows = Object.entries(properties)
    .map(
      ([name, prop]) =>
        `<tr><td><code>${esc(name)}</code>${required.has(name) ? '' : ' <span class="opt">optional</span>'}</td>` +
        `<td>${typeText(prop)}</td><td>${esc(prop.description)}</td></tr>`,
    )
    .join('');
  if (!rows) return '';
  return `<table><tr><th>field</th><th>type</th><th>meaning</th></tr>${rows}</table>`;
}

function contentList(content: unknown): string {
  if (!content || typeof content !== 'object') return '';
  return Object.entries(content as Record<string, Json>)
    .map(([type, media]) => {
      const description = media.description ? ` — ${esc(media.description)}` : '';
      const schema = media.schema as Json | undefined;
      const inline = schema && !schema.$ref && schema.properties ? propertiesTable(schema) : '';
      return `<li><code>${esc(type)}</code>: ${typeText(schema)}${description}${inline}</li>`;
    })
    .join('');
}

function operationHtml(path: string, method: string, op: Json): string {
  const parts: string[] = [];
  const id = anchor(`${method} ${path}`);
  parts.push(
    `<section class="op" id="${id}"><h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>`,
  );
  if (op.summary) parts.push(`<p class="summary">${esc(op.summary)}</p>`);
  if (op.description) parts.push(`<p>${esc(op.description)}</p>`);
  if (Array.isArray(op.security) && op.security.length === 0)
    parts.push('<p class="opt">No API key needed.</p>');
  const params = (op.parameters ?? []) as Json[];
  if (params.length > 0) {
    const rows = params
      .map(
        (p) =>
          `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}${p.required ? ', required' : ''}</td>` +
          `<td>${typeText(p.schema)}</td><td>${esc(p.description)}</td></tr>`,
      )
      .join('');
    parts.push(
      `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>meaning</th></tr>${rows}</table>`,
    );
  }
  const body = op.requestBody as Json | undefined;
  if (body) parts.push(`<h4>Body</h4><ul>${contentList(body.content)}</ul>`);
  const responses = (op.responses ?? {}) as Record<string, Json>;
  const rows = Object.entries(responses)
    .map(([code, r]) => {
      const content = r.content ? `<ul>${contentList(r.content)}</ul>` : '';
      return `<tr><td><code>${esc(code)}</code></td><td>${esc(r.description)}${content}</td></tr>`;
    })
    .join('');
  parts.push(`<h4>Answers</h4><table><tr><th>status</th><th>meaning</th></tr>${rows}</table></section>`);
  return parts.join('\n');
}

const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
main{max-width:980px;margin:0 auto;padding:24px}
nav ul{columns:2;padding-left:18px}
h1{margin-bottom:4px} h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:40px}
code{font:13px ui-monospace,monospace;background:#f3f4f6;padding:1px 4px;border-radius:4px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.op{border:1px solid #d0d7de;border-radius:8px;padding:4px 16px;margin:16px 0}
.method{display:inline-block;min-width:64px;text-align:center;border-radius:4px;color:#fff;font-size:13px;padding:2px 6px}
.get{background:#0969da}.post{background:#1a7f37}.put{background:#9a6700}.delete{background:#cf222e}
.opt{color:#57606a;font-size:13px}.summary{font-weight:600}
`;

export function renderDocs(document: Json): string {
  const info = (document.info ?? {}) as Json;
  const paths = (document.paths ?? {}) as Record<string, Record<string, Json>>;
  const schemas = ((document.components as Json | undefined)?.schemas ?? {}) as Record<string, Json>;
  const methods = ['get', 'post', 'put', 'delete', 'patch'];

  const toc: string[] = [];
  const ops: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const method of methods) {
      const op = item[method];
      if (!op) continue;
      toc.push(
        `<li><a href="#${anchor(`${method} ${path}`)}"><code>${method.toUpperCase()} ${esc(path)}</code></a> ${esc(op.summary)}</li>`,
      );
      ops.push(operationHtml(path, method, op));
    }
  }
  const schemaHtml = Object.entries(schemas)
    .map(
      ([name, schema]) =>
        `<section id="schema-${anchor(name)}"><h3>${esc(name)}</h3>` +
        `${schema.description ? `<p>${esc(schema.description)}</p>` : ''}` +
        `${schema.properties ? propertiesTable(schema) : `<p>${typeText(schema)}</p>`}</section>`,
    )
    .join('\n');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(info.title)} ${esc(info.version)}</title><style>${STYLE}</style></head>
<body><main>
<h1>${esc(info.title)} <span class="opt">${esc(info.version)}</span></h1>
<p>${esc(info.description)}</p>
<p>Machine-readable: <a href="/static/openapi.yaml"><code>/static/openapi.yaml</code></a>. Authenticate with <code>Authorization: Bearer &lt;api-key&gt;</code>.</p>
<nav><h2>Endpoints</h2><ul>${toc.join('')}</ul></nav>
<h2>Operations</h2>
${ops.join('\n')}
<h2>Schemas</h2>
${schemaHtml}
</main></body></html>
`;
}
