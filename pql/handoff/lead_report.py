"""The lead report: one self-contained HTML page a sales rep opens from a file.

`render_lead_report` is a pure function from the leads frame (`serving.batch`'s CRM
columns) to HTML text: no server, no external assets or fonts, inline CSS and a little
inline JavaScript that only reorders and hides rows the page already holds. Every value
is data (entity ids and reason texts come from the customer's event log), so every value
is HTML-escaped where it is written; the script never builds markup from data.

Rows are rendered on the server side, so the page is complete without JavaScript; the
script adds sorting (click a column header) and filtering (tier, free text).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

import pandas as pd

#: Scored rows shown in the page by default: a rep works the top of the list, and a
#: million-row page would not open. The page always says how many it leaves out.
DEFAULT_ROW_LIMIT = 1000
TIER_ORDER = {"hot": 3, "warm": 2, "cold": 1}
REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")
FIT_COLUMNS = ("fit_reason_1", "fit_reason_2")


@dataclass(frozen=True)
class ReportContext:
    """What the page says about the run: which product, model and moment."""

    product: str
    entity: str  # "user" or "account"
    model_version: str | None  # "rules" for rule-based scores
    as_of: pd.Timestamp
    scored_at: pd.Timestamp
    model_status: str = "champion"  # what the registry says of the model that scored
    leads_file: str | None = None  # where every row is (the CSV/Parquet written alongside)
    row_limit: int = DEFAULT_ROW_LIMIT
    #: routing columns (`output.attributes`): a column and a filter each
    attributes: tuple[str, ...] = ()


def _text(value: object) -> str:
    """Escaped text of a cell; missing values are empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, pd.Timestamp) and pd.isna(value):
        return ""
    return escape(str(value), quote=True)


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _time(stamp: object) -> str:
    if _is_missing(stamp):
        return "-"
    return pd.Timestamp(stamp).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def _ago(last: object, as_of: pd.Timestamp) -> tuple[str, str, float]:
    """('3 days ago', exact time, sort key in hours) for the last-active cell."""
    if _is_missing(last):
        return "never", "no activity before as_of", -1.0
    stamp = pd.Timestamp(last)
    hours = max((as_of - stamp).total_seconds() / 3600, 0.0)
    if hours < 1:
        label = "within the hour"
    elif hours < 24:
        label = f"{int(hours)} h ago"
    elif hours < 48:
        label = "1 day ago"
    else:
        label = f"{int(hours // 24)} days ago"
    # sort key: more recent = larger, so "sort descending" puts the freshest first
    return label, _time(stamp), stamp.timestamp()


def _tier_badge(tier: object) -> str:
    name = _text(tier) or "none"
    css = name if name in TIER_ORDER else "none"
    return f'<span class="tier tier-{css}">{name}</span>'


def _score_cell(score: object, probability: object, tier: object) -> str:
    value = 0.0 if _is_missing(score) else float(score)  # type: ignore[arg-type]
    css = _text(tier) if _text(tier) in TIER_ORDER else "none"
    probability_text = ""
    if not _is_missing(probability):
        probability_text = f'<span class="prob">p = {float(probability):.2f}</span>'  # type: ignore[arg-type]
    return (
        f'<td class="score" data-sort="{value}">'
        f'<div class="bar" role="img" aria-label="score {value} of 100">'
        f'<div class="fill fill-{css}" style="width:{value}%"></div></div>'
        f'<span class="num">{value}</span>{probability_text}</td>'
    )


def _reasons(row: pd.Series) -> str:
    items = [_text(row[c]) for c in REASON_COLUMNS if c in row.index and _text(row[c])]
    if not items:
        return '<span class="muted">-</span>'
    return '<ul class="reasons">' + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _fit(row: pd.Series) -> str:
    """Who the lead is, apart from what they did: fit that raises the score (+), then
    fit that holds it back (-)."""
    helps = [_text(row[c]) for c in FIT_COLUMNS if c in row.index and _text(row[c])]
    hurts = _text(row.get("negative_fit_reason_1"))
    items = [f"<li>+ {t}</li>" for t in helps] + ([f"<li>- {hurts}</li>"] if hurts else [])
    if not items:
        return '<span class="muted">-</span>'
    return '<ul class="reasons fit">' + "".join(items) + "</ul>"


def _routing_cells(row: pd.Series, attributes: tuple[str, ...]) -> tuple[str, str]:
    """(data-attr-* attributes of the row, one <td> per routing column)."""
    values = [_text(row.get(name)) for name in attributes]
    marks = "".join(f' data-attr-{i}="{value}"' for i, value in enumerate(values))
    cells = "".join(f'<td class="attr" data-sort="{value}">{value or "-"}</td>' for value in values)
    return marks, cells


def _lead_rows(
    scored: pd.DataFrame,
    as_of: pd.Timestamp,
    accounts: bool,
    attributes: tuple[str, ...] = (),
    fit: bool = False,
) -> Iterable[str]:
    """One <tr> per lead; `accounts` adds the account column (user-level leads only),
    `attributes` the routing columns, `fit` the fit reasons."""
    for rank, (_, row) in enumerate(scored.iterrows(), start=1):
        label, exact, key = _ago(row.get("last_active_at"), as_of)
        holding = _text(row.get("negative_reason_1")) or '<span class="muted">-</span>'
        tier = row.get("tier")
        account = _text(row.get("account_id"))
        account_cell = (
            f'<td class="account" data-sort="{account}">{account or "-"}</td>' if accounts else ""
        )
        marks, routing = _routing_cells(row, attributes)
        yield (
            f'<tr data-tier="{_text(tier)}"{marks}>'
            f'<td class="rank" data-sort="{rank}">{rank}</td>'
            f'<td class="id" data-sort="{_text(row["entity_id"])}">{_text(row["entity_id"])}</td>'
            + account_cell
            + routing
            + _score_cell(row.get("score"), row.get("probability"), tier)
            + f'<td data-sort="{TIER_ORDER.get(str(tier), 0)}">{_tier_badge(tier)}</td>'
            f'<td class="last" data-sort="{key}" title="{exact}">{label}'
            f'<span class="exact">{exact}</span></td>'
            f"<td>{_reasons(row)}</td>"
            + (f'<td class="fit">{_fit(row)}</td>' if fit else "")
            + f'<td class="holding">{holding}</td>'
            "</tr>"
        )


def _heading(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _attribute_filters(shown: pd.DataFrame, attributes: tuple[str, ...]) -> str:
    """One select per routing column, listing the values of the leads shown."""
    filters = []
    for position, name in enumerate(attributes):
        values = shown[name].dropna().astype(str).value_counts()
        options = "".join(
            f'<option value="{_text(value)}">{_text(value)} ({count:,})</option>'
            for value, count in sorted(values.items())
        )
        filters.append(
            f"<label>{_text(_heading(name))} "
            f'<select class="attr-filter" data-attr="{position}">'
            f'<option value="">all</option>{options}</select></label>'
        )
    return "".join(filters)


def _not_scored_section(unscored: pd.DataFrame, limit: int) -> str:
    if unscored.empty:
        return ""
    counts = unscored["not_scored_reason"].fillna("unknown").value_counts()
    reasons = "".join(
        f"<tr><td>{_text(reason)}</td><td class='n'>{count:,}</td></tr>"
        for reason, count in counts.items()
    )
    shown = unscored.head(limit)
    ids = "".join(
        f"<li><span class='id'>{_text(r.entity_id)}</span> "
        f"<span class='muted'>{_text(r.not_scored_reason)}</span></li>"
        for r in shown.itertuples(index=False)
    )
    more = (
        f"<p class='muted'>The first {len(shown):,} of {len(unscored):,} are listed.</p>"
        if len(unscored) > len(shown)
        else ""
    )
    return (
        f'<section class="unscored" id="not-scored"><h2>Not scored ({len(unscored):,})</h2>'
        "<p>These entities could not be scored at the as-of time; they are no leads now.</p>"
        f'<table class="counts"><thead><tr><th>reason</th><th class="n">entities</th></tr>'
        f"</thead><tbody>{reasons}</tbody></table>"
        f"<details><summary>Show them</summary><ul class='ids'>{ids}</ul>{more}</details>"
        "</section>"
    )


def _empty_message(leads: pd.DataFrame, context: ReportContext) -> str:
    as_of = _time(context.as_of)
    if leads.empty:
        text = f"The data has no {context.entity}s to score at {as_of}."
    else:
        text = (
            f"None of the {len(leads):,} {context.entity}s could be scored at {as_of}: "
            "see the reasons below (is the as-of time right?)."
        )
    return f'<div class="empty" id="empty-message"><strong>No leads.</strong> {_text(text)}</div>'


def empty_report_message(leads: pd.DataFrame, context: ReportContext) -> str | None:
    """The one-line console message for a report with no scored entity, else None."""
    if (leads["status"] == "scored").any():
        return None
    if leads.empty:
        return f"the lead report is empty: no {context.entity}s in the data"
    return (
        f"the lead report has no leads: none of the {len(leads):,} {context.entity}s "
        f"could be scored at {_time(context.as_of)}"
    )


def render_lead_report(leads: pd.DataFrame, context: ReportContext) -> str:
    """The whole HTML page for a leads frame (scored rows first, best first)."""
    scored = leads[leads["status"] == "scored"]
    unscored = leads[leads["status"] != "scored"]
    shown = scored.head(context.row_limit)
    tiers = scored["tier"].value_counts()
    pqls = int(scored["is_pql"].astype("boolean").fillna(False).astype(bool).sum())
    model = (
        "the spec's rules"
        if context.model_version == "rules"
        else f"model version {context.model_version}"
        if context.model_version
        else "model (no version)"
    )
    title = f"{context.product}: product-qualified leads"
    stats = [
        ("scored", f"{len(scored):,}"),
        ("PQLs", f"{pqls:,}"),
        ("hot share", f"{100 * pqls / len(scored):.1f}%" if len(scored) else "-"),
        *((f"{tier}", f"{int(tiers.get(tier, 0)):,}") for tier in TIER_ORDER),
        ("not scored", f"{len(unscored):,}"),
    ]
    stat_html = "".join(
        f'<div class="stat"><span class="v">{_text(v)}</span>'
        f'<span class="k">{_text(k)}</span></div>'
        for k, v in stats
    )
    notice = ""
    if context.model_status not in ("champion", "rules (no model)"):
        notice += (
            '<p class="notice warning" id="model-status">These scores come from a model '
            f"that is not the champion: {_text(context.model_status)}. Treat tiers and "
            "reasons with care.</p>"
        )
    if len(scored) > len(shown):
        where = f" in {_text(context.leads_file)}" if context.leads_file else ""
        notice += (
            f'<p class="notice" id="limit-notice">Showing the {len(shown):,} highest-scored of '
            f"{len(scored):,} scored {context.entity}s; every entity is{where}.</p>"
        )
    if shown.empty:
        body = _empty_message(leads, context)
    else:
        options = "".join(
            f'<option value="{tier}">{tier} ({int(tiers.get(tier, 0)):,})</option>'
            for tier in TIER_ORDER
        )
        # an account's leads are accounts: a second account column would repeat the id
        accounts = context.entity != "account"
        routing = tuple(a for a in context.attributes if a in leads.columns)
        fit = "fit_reason_1" in leads.columns
        rows = "".join(_lead_rows(shown, context.as_of, accounts, routing, fit))
        body = (
            '<div class="controls">'
            '<label>Tier <select id="tier-filter"><option value="">all</option>'
            f"{options}</select></label>"
            + _attribute_filters(shown, routing)
            + '<label class="grow">Search <input id="search" type="search" '
            'placeholder="id, account or reason"></label>'
            f'<span id="shown-count" class="muted">{len(shown):,} shown</span></div>'
            '<table id="leads"><thead><tr>'
            '<th data-type="num" class="sortable rank">#</th>'
            '<th data-type="text" class="sortable">'
            + _text(context.entity.capitalize())
            + "</th>"
            + ('<th data-type="text" class="sortable">Account</th>' if accounts else "")
            + "".join(
                f'<th data-type="text" class="sortable">{_text(_heading(a))}</th>' for a in routing
            )
            + '<th data-type="num" class="sortable" aria-sort="descending">Score</th>'
            '<th data-type="num" class="sortable">Tier</th>'
            '<th data-type="num" class="sortable">Last active</th>'
            "<th>Why (top reasons)</th>"
            + ("<th>Who (fit)</th>" if fit else "")
            + "<th>Holding back</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>"
            '<p id="no-match" class="empty" hidden>No lead matches the filter.</p>'
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_text(title)}</h1>"
        f'<p class="meta">Scored with <strong id="model">{_text(model)}</strong> '
        f'at <strong id="scored-at">{_text(_time(context.scored_at))}</strong>, '
        f"as of {_text(_time(context.as_of))}. Score: 0-100 "
        + (
            "share of the rules met"
            if context.model_version == "rules"
            else "percentile of the calibrated probability among training rows"
        )
        + f'.</p><div class="stats">{stat_html}</div></header><main>{notice}{body}'
        f"{_not_scored_section(unscored, context.row_limit)}</main>"
        f"<script>{_JS}</script></body></html>\n"
    )


_CSS = """
:root{--fg:#1f2933;--muted:#6b7785;--line:#e3e8ee;--bg:#f7f9fb;--hot:#d9480f;
--warm:#e8a200;--cold:#6ea8d8;--none:#adb5bd}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,
sans-serif;color:var(--fg);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:16px 24px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{margin:0 0 12px;color:var(--muted)}
.stats{display:flex;gap:12px;flex-wrap:wrap}
.stat{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:6px 12px;
min-width:84px}
.stat .v{display:block;font-size:18px;font-weight:600}.stat .k{color:var(--muted);font-size:12px}
main{max-width:1440px;margin:0 auto;padding:16px 24px 40px}
.controls{display:flex;gap:16px;align-items:center;margin:0 0 12px;flex-wrap:wrap}
.controls label{display:flex;gap:6px;align-items:center;font-weight:600}
.controls .grow{flex:1;max-width:420px}
input,select{font:inherit;padding:5px 8px;border:1px solid #c5ced8;border-radius:6px;
background:#fff}
input{width:100%}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}
th,td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:#eef2f6;font-size:12px;text-transform:uppercase;
letter-spacing:.03em;color:#44515e;white-space:nowrap;z-index:1}
th.sortable{cursor:pointer;user-select:none}th.sortable:hover{background:#e2e8ef}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tbody tr:hover{background:#fafcff}
td.rank{color:var(--muted);width:3em}
td.id,.ids .id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;
overflow-wrap:anywhere;min-width:7em;max-width:16em}
td.account{min-width:6em;max-width:12em;overflow-wrap:anywhere}
td.score{min-width:150px;white-space:nowrap}
.bar{display:inline-block;vertical-align:middle;width:90px;height:10px;background:#edf1f5;
border-radius:5px;overflow:hidden;margin-right:8px}
.fill{height:100%}.fill-hot{background:var(--hot)}.fill-warm{background:var(--warm)}
.fill-cold{background:var(--cold)}.fill-none{background:var(--none)}
.num{font-weight:600;display:inline-block;width:2.2em}
.prob{display:block;color:var(--muted);font-size:12px}
.tier{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;
color:#fff}
.tier-hot{background:var(--hot)}.tier-warm{background:var(--warm)}
.tier-cold{background:var(--cold)}.tier-none{background:var(--none)}
td.last{white-space:nowrap}.exact{display:block;color:var(--muted);font-size:12px}
.reasons{margin:0;padding-left:16px;font-size:13px}.reasons li{margin:0 0 1px}
td.holding{color:#8a3b12;max-width:22em;font-size:13px}
td.fit{max-width:22em;font-size:13px;color:#1d4e89}td.attr{white-space:nowrap}
.muted{color:var(--muted)}
.notice{background:#fff8e6;border:1px solid #f5d78e;border-radius:6px;padding:8px 12px}
.notice.warning{background:#fdecea;border-color:#f1aeb5;font-weight:600}
.empty{background:#fff;border:1px dashed #c5ced8;border-radius:8px;padding:20px;font-size:15px}
.counts{width:auto;min-width:360px}.n{text-align:right}
.ids{columns:3 260px;padding-left:18px}
@media (max-width:900px){td.holding,th:last-child{display:none}}
"""

# Only reorders and hides existing rows; reads text, never writes markup.
_JS = """
(function(){
  var table=document.getElementById('leads');
  if(!table){return;}
  var body=table.tBodies[0], heads=table.tHead.rows[0].cells;
  var tier=document.getElementById('tier-filter'), search=document.getElementById('search');
  var count=document.getElementById('shown-count'), none=document.getElementById('no-match');
  var attrs=Array.prototype.slice.call(document.querySelectorAll('.attr-filter'));
  function key(row,i,num){var v=row.cells[i].getAttribute('data-sort')||'';
    return num?parseFloat(v):v.toLowerCase();}
  function sortBy(i){
    var th=heads[i], num=th.getAttribute('data-type')==='num';
    var dir=th.getAttribute('aria-sort')==='descending'?1:-1;
    if(!th.hasAttribute('aria-sort')){dir=(num&&i!==0)?-1:1;}
    for(var h=0;h<heads.length;h++){heads[h].removeAttribute('aria-sort');}
    th.setAttribute('aria-sort',dir===1?'ascending':'descending');
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){var x=key(a,i,num),y=key(b,i,num);
      if(x<y){return -dir;} if(x>y){return dir;}
      return key(a,0,true)-key(b,0,true);});
    rows.forEach(function(r){body.appendChild(r);});
  }
  for(var i=0;i<heads.length;i++){
    if(heads[i].classList.contains('sortable')){
      heads[i].addEventListener('click',sortBy.bind(null,i));}
  }
  function filter(){
    var t=tier.value, q=search.value.trim().toLowerCase(), n=0;
    Array.prototype.forEach.call(body.rows,function(r){
      var ok=(!t||r.getAttribute('data-tier')===t)&&
        (!q||r.textContent.toLowerCase().indexOf(q)>=0)&&
        attrs.every(function(s){return !s.value||
          r.getAttribute('data-attr-'+s.getAttribute('data-attr'))===s.value;});
      r.hidden=!ok; if(ok){n++;}
    });
    count.textContent=n+' shown'; none.hidden=n>0;
  }
  tier.addEventListener('change',filter); search.addEventListener('input',filter);
  attrs.forEach(function(s){s.addEventListener('change',filter);});
})();
"""
