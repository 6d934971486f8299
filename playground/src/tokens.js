// Written by editors/vscode/scripts/make_grammar.py from netc's layer registry; do not edit by hand.
// The playground's highlighting rules: the VS Code grammar's rules (syntaxes/netc.tmLanguage.json),
// whose layer words, joins, keywords and names the Pygments lexer shares, with CodeMirror tags.
export const RULES = [
 {
  "match": "#.*$",
  "flags": "",
  "tag": "comment"
 },
 {
  "match": "\"[^\"\\n]*\"",
  "flags": "",
  "tag": "string"
 },
 {
  "match": "\\b(?:(default)\\s+)?(config)\\s+([A-Za-z0-9_][A-Za-z0-9_\\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\\-]*)*)(?:\\s+(extends)\\s+([A-Za-z0-9_][A-Za-z0-9_\\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\\-]*)*))?",
  "flags": "",
  "captures": {
   "1": "keyword",
   "2": "keyword",
   "3": "className",
   "4": "keyword",
   "5": "className"
  }
 },
 {
  "begin": "\\b(table)\\b",
  "flags": "",
  "end": "(?=\\{)|(?=#)|$",
  "endFlags": "",
  "patterns": [
   {
    "match": "[A-Za-z0-9_][A-Za-z0-9_\\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\\-]*)*",
    "flags": "",
    "tag": "className"
   },
   {
    "match": "\\|",
    "flags": "",
    "tag": "operator"
   }
  ],
  "beginCaptures": {
   "1": "keyword"
  }
 },
 {
  "begin": "\\b(block)\\s+([A-Za-z_][A-Za-z0-9_]*)\\s*(\\()",
  "flags": "",
  "end": "\\)|$",
  "endFlags": "",
  "patterns": [
   {
    "match": "\"[^\"\\n]*\"",
    "flags": "",
    "tag": "string"
   },
   {
    "match": "(?<![A-Za-z0-9_])(?:\\d+\\.\\d*|\\.\\d+|\\d+)(?:[eE][-+]?\\d+)?(?![A-Za-z0-9_])",
    "flags": "",
    "tag": "number"
   },
   {
    "match": "\\b(?:true|false)\\b",
    "flags": "",
    "tag": "atom"
   },
   {
    "match": "[A-Za-z_][A-Za-z0-9_]*",
    "flags": "",
    "tag": "propertyName"
   },
   {
    "match": "[=,]",
    "flags": "",
    "tag": "operator"
   }
  ],
  "beginCaptures": {
   "1": "keyword",
   "2": "variableName.function",
   "3": "punctuation"
  },
  "endCaptures": {
   "0": "punctuation"
  }
 },
 {
  "match": "\\b(var|let)\\s+([A-Za-z_][A-Za-z0-9_\\-]*)",
  "flags": "",
  "captures": {
   "1": "keyword",
   "2": "variableName.definition"
  }
 },
 {
  "match": "\\b(input)\\s+([0-9A-Za-z_]+(?:[xX\\u00d7][0-9A-Za-z_]+){1,2})(?:\\s+([A-Za-z0-9_]+))?",
  "flags": "",
  "captures": {
   "1": "keyword",
   "2": "number",
   "3": "atom"
  }
 },
 {
  "match": "\\b(aux)\\s+([A-Za-z0-9_][A-Za-z0-9_\\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\\-]*)*)\\s+(on)\\s+([A-Za-z0-9_][A-Za-z0-9_\\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\\-]*)*)(?:\\s+(weight)\\b)?",
  "flags": "",
  "captures": {
   "1": "keyword",
   "2": "labelName",
   "3": "keyword",
   "4": "labelName",
   "5": "keyword"
  }
 },
 {
  "begin": "\\b(replace|remove)\\b",
  "flags": "",
  "end": "\\b(with)\\b|(?=#)|$",
  "endFlags": "",
  "patterns": [
   {
    "match": "[A-Za-z0-9_][A-Za-z0-9_\\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\\-]*)*",
    "flags": "",
    "tag": "labelName"
   },
   {
    "match": ",",
    "flags": "",
    "tag": "operator"
   }
  ],
  "beginCaptures": {
   "1": "keyword"
  },
  "endCaptures": {
   "1": "keyword"
  }
 },
 {
  "match": "\\b(after|before|from)\\s+([A-Za-z0-9_][A-Za-z0-9_\\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\\-]*)*)",
  "flags": "",
  "captures": {
   "1": "keyword",
   "2": "labelName"
  }
 },
 {
  "match": "\\b(output|naming)\\s+([A-Za-z_][A-Za-z0-9_]*)",
  "flags": "",
  "captures": {
   "1": "keyword",
   "2": "atom"
  }
 },
 {
  "match": "\\b(as)\\s+([A-Za-z0-9_][A-Za-z0-9_\\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_\\-]*)*)",
  "flags": "",
  "captures": {
   "1": "keyword",
   "2": "labelName"
  }
 },
 {
  "match": "\\b(add|concat|crop|mul|multiply|residual|split)\\b(?=[ \\t]*[({]|[ \\t]+as\\b)",
  "flags": "",
  "captures": {
   "1": "keyword"
  }
 },
 {
  "match": "\\b(?:(include|defaults|insert|with|extends|default|config|block|var|let|input|output|naming|table|aux|on|weight|if|else|and|or|not|outputs|for)|(true|false))\\b(?![\\-/])",
  "flags": "",
  "captures": {
   "1": "keyword",
   "2": "atom"
  }
 },
 {
  "match": "([A-Za-z_][A-Za-z0-9_]*)\\s*(?==(?!=))",
  "flags": "",
  "captures": {
   "1": "propertyName"
  }
 },
 {
  "match": "\\b\\d+[xX\\u00d7]\\d+(?:[xX\\u00d7]\\d+)?\\b",
  "flags": "",
  "tag": "number"
 },
 {
  "match": "(?<![A-Za-z0-9_\\-])[xX\\u00d7][ \\t]*\\d+(?![A-Za-z0-9_])",
  "flags": "",
  "tag": "number"
 },
 {
  "match": "(?<=[A-Za-z0-9_)\\]][ \\t])[x\\u00d7](?=[ \\t]*[A-Za-z_(])(?![ \\t]*(?:as|on|and|or)\\b)",
  "flags": "",
  "tag": "number"
 },
 {
  "match": "(?<![A-Za-z0-9_\\-/])(?:(?:conv|convolution)(\\d+|[a-z_][a-z0-9_]*)(?:x(\\d+|[a-z_][a-z0-9_]*))?-(\\w+)(?:/(\\w+))?|(?:upconv|up-conv|deconv)(\\d+|[a-z_][a-z0-9_]*)(?:x(\\d+|[a-z_][a-z0-9_]*))?-(\\w+)(?:/(\\w+))?|(?:fc|linear)-(\\w+)|(?:maxpool|max-pool|max_pool)(\\d+)(?:x(\\d+))?(?:/(\\d+))?|(?:avgpool|avg-pool|avg_pool|avepool)(\\d+)(?:x(\\d+))?(?:/(\\d+))?|(?:patch|patch-embed)(\\d+|[a-z_][a-z0-9_]*)-(\\w+)|(?:sw-msa|swmsa|shifted-window-attention)|causal\\-self\\-attention|local\\-response\\-norm|mixture\\-of\\-experts|position\\-embedding|blocked\\-attention|frozenbatchnorm2d|adaptive\\-avgpool|adaptive_avgpool|causal\\-attention|frozen\\-batchnorm|stochastic\\-depth|window\\-attention|window_attention|adaptiveavgpool|block\\-attention|block_attention|channel\\-shuffle|channel_shuffle|frozenbatchnorm|fully\\-connected|global\\-avg\\-pool|global\\-max\\-pool|conv\\-transpose|global\\-avgpool|global\\-maxpool|global_avgpool|global_maxpool|gpt2\\-attention|gpt2_attention|grid\\-attention|grid_attention|self\\-attention|channel\\-split|globalavgpool|globalmaxpool|instance\\-norm|instance_norm|patch\\-merging|pos\\-embedding|average\\-pool|hard\\-sigmoid|innerproduct|instancenorm|class\\-token|convolution|hardsigmoid|layer\\-scale|layer_scale|learned\\-pos|learned_pos|mean\\-tokens|patch\\-embed|patch\\-merge|patch_merge|token\\-embed|upconv2\\-512|batch\\-norm|batch_norm|group\\-norm|group_norm|hard\\-swish|layer\\-norm|layer_norm|layerscale|leaky\\-relu|leaky_relu|sparse\\-moe|take\\-token|token\\-mean|token\\-pool|token_pool|upsampling|attention|batchnorm|cls\\-token|cls_token|conv1\\-256|drop\\-path|drop_path|embedding|frozen\\-bn|frozen_bn|gated\\-mlp|gpt2\\-attn|groupnorm|h\\-sigmoid|hardswish|layernorm|leakyrelu|pos\\-embed|pos\\-table|pos_embed|to\\-tokens|to_tokens|tok\\-embed|avg\\-pool|avg_pool|conv3\\-64|droppath|frozenbn|gpt2\\-mlp|gpt2_mlp|hsigmoid|identity|instnorm|integral|max\\-pool|max_pool|patchify|rms\\-norm|rms_norm|soft\\-max|upsample|avepool|avgpool|cls\\-out|dropout|fc\\-4096|flatten|glu\\-mlp|h\\-swish|lm\\-head|lm_head|maxpool|rmsnorm|shuffle|sigmoid|softmax|to\\-fmap|unembed|up\\-conv|deconv|hswish|linear|lmhead|resize|rotary|select|swiglu|to\\-map|to_map|tokens|upconv|chunk|convt|embed|lrelu|merge|mpool|patch|relu6|swish|w\\-msa|conv|gelu|mhsa|norm|relu|rope|silu|skip|tanh|wmsa|dfl|elu|gap|gmp|gqa|lrn|moe|msa|spp|wpe|bn|fc|gn|id|ip|ln|up)(?![A-Za-z0-9_\\-/])",
  "flags": "i",
  "tag": "typeName"
 },
 {
  "match": "([A-Za-z_][A-Za-z0-9_]*)\\s*(?=\\()",
  "flags": "",
  "captures": {
   "1": "variableName.function"
  }
 },
 {
  "match": "(?<![A-Za-z0-9_])(?:\\d+\\.\\d*|\\.\\d+|\\d+)(?:[eE][-+]?\\d+)?(?![A-Za-z0-9_])",
  "flags": "",
  "tag": "number"
 },
 {
  "match": "->|==|!=|<=|>=|[|=<>*/%+\\-,]|[{}()\\[\\]]",
  "flags": "",
  "tag": "operator"
 },
 {
  "match": "[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*(?:/[A-Za-z0-9_]+)?",
  "flags": "",
  "tag": "variableName"
 }
];

const compiled = new Map();
function re(src, flags) {
  const key = flags + "/" + src;
  if (!compiled.has(key)) compiled.set(key, new RegExp(src, flags + "g"));
  const r = compiled.get(key);
  return r;
}

function search(src, flags, line, pos) {
  const r = re(src, flags);
  r.lastIndex = pos;
  return r.exec(line);
}

function emit(out, m, rule, caps, tag) {
  if (tag) out.push([m.index, m.index + m[0].length, tag]);
  for (const [g, t] of Object.entries(caps || {})) {
    const text = m[+g];
    if (text === undefined || text === "") continue;
    const start = m.indices ? m.indices[+g][0] : m.index + m[0].indexOf(text);
    out.push([start, start + text.length, t]);
  }
}

// [start, end, tag] for one line: at each step the rule matching earliest wins (the first listed on
// a tie); a begin/end rule scans its own patterns until its end matches in the line (as TextMate).
export function tokenizeLine(line) {
  const out = [];
  let pos = 0;
  while (pos < line.length) {
    let best = null;
    for (const rule of RULES) {
      const m = search(rule.match || rule.begin, rule.flags + "d", line, pos);
      if (m && (best === null || m.index < best[0].index)) best = [m, rule];
    }
    if (best === null) break;
    const [m, rule] = best;
    if (rule.match) {
      emit(out, m, rule, rule.captures, rule.tag);
      pos = Math.max(m.index + m[0].length, m.index + 1);
      continue;
    }
    emit(out, m, rule, rule.beginCaptures, rule.tag);
    pos = m.index + m[0].length;
    for (;;) {
      const e = search(rule.end, rule.endFlags + "d", line, pos);
      let hit = null;
      for (const r of rule.patterns) {
        const h = search(r.match, r.flags + "d", line, pos);
        if (h && (e === null || h.index < e.index) && (hit === null || h.index < hit[1].index)) hit = [r, h];
      }
      if (hit === null) {
        if (e !== null) {
          emit(out, e, rule, rule.endCaptures, null);
          pos = Math.max(e.index + e[0].length, pos);
        } else {
          pos = line.length;
        }
        break;
      }
      const [r, h] = hit;
      out.push([h.index, h.index + h[0].length, r.tag]);
      pos = Math.max(h.index + h[0].length, h.index + 1);
    }
  }
  return out;
}
