"""The report's HTML: sections of a figure, how to read it and what it shows; tables; the page around them."""

import html
from datetime import datetime, timezone


def section(title: str, image: str | None, how_to_read: str, what_it_shows: str, details: str = "") -> str:
    figure = f'<img src="{image}" alt="{html.escape(title)}">' if image else ""
    return (f"<section><h2>{html.escape(title)}</h2>{figure}"
            f'<p class="how"><b>How to read it.</b> {html.escape(how_to_read)}</p>'
            f'<p class="what"><b>What it shows.</b> {html.escape(what_it_shows)}</p>{details}</section>')


def table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def page(version: str, report: dict, stats: dict, sections: list[str]) -> str:
    users, photos = stats["users"], sum(stats["readings"].values())
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = (f"Model version {version}, tested on {report['n']} FER2013 faces ({report['usage']}) it never "
               f"trained on. In production: "
               f"photos read {photos}; users {users['total']}, of whom {users['consenting']} consent and "
               f"{users['donating']} donate face crops. Generated {created}.")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MoodTunes emotion model report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
img {{ max-width: 100%; }} section {{ margin: 2.5rem 0; }} p.how {{ color: #555; }}
table {{ border-collapse: collapse; margin-top: .5rem; }} td, th {{ border: 1px solid #ccc; padding: .2rem .6rem; }}
td {{ text-align: right; }} td:first-child {{ text-align: left; }}
</style></head><body>
<h1>How the emotion model treats each emotion</h1>
<p>{html.escape(summary)}</p>
<p>The bot reads the emotion in a selfie and picks songs for it. A model that is worse at some emotions gives the
people who feel them worse suggestions. This page shows, emotion by emotion, how well the model does on labelled
test faces and what happens with real users. Figures about users are totals; no person can be picked out.</p>
{"".join(sections)}
</body></html>
"""
