"""The demo data: the seed article's table, with the companies, figures and steps behind it.

Ids are derived from stable names, so `seed` writes the same records every time
and a second run changes nothing.
"""

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import Engine

from app.actor import SYSTEM
from app.db import write_session
from app.market.registry import SPECS
from app.resources import writes
from app.resources.changelog import Op
from app.resources.preconditions import Conditions

NAMESPACE = uuid.UUID("6f1d3c1e-2b7a-4c55-9d8e-5e7f0a1b2c3d")
ARTICLE = "semi-solid-pivot-report"
REPORT_NOTE = "As stated in the seed report."


def demo_id(collection: str, name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{collection}/{name}")


def _company(slug: str, name: str, local: str, **extra: Any) -> dict[str, Any]:
    return {"slug": slug, "name": name, "name_local": local, "country": "CN", **extra}


def _battery(slug: str, name: str, partner: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": name,
        "battery_partner_id": partner,
        "technology": "semi_solid",
        "description": "Solid-liquid hybrid: solid electrolytes with a reduced amount of liquid "
        "electrolyte, made on retrofitted lithium-ion lines.",
    }


# (automaker, partner, battery, status, stage, commercialization status, figure, milestone)
TABLE = (
    (
        "nio", "welion", "welion-semi-solid", "mass_production",
        "Mass-produced; currently integrated in battery-swap network.",
        (360, 360, "claimed"),
        "WeLion semi-solid-state batteries mass-produced for NIO's battery-swap network",
    ),
    (
        "im-motors", "qingtao-energy", "qingtao-semi-solid", "vehicle_launch",
        "Active deployment on premium models.",
        (400, None, "targeted"),
        "QingTao semi-solid-state batteries deployed on IM Motors premium models",
    ),
    (
        "deepal", "ganfeng-li-energy", "ganfeng-semi-solid", "mass_production",
        "Production scaled to secure immediate margin improvements.",
        (260, 350, "claimed"),
        "Ganfeng Li-Energy semi-solid-state battery production scaled for Deepal",
    ),
)  # fmt: skip


def demo_records() -> list[tuple[str, uuid.UUID, dict[str, Any]]]:
    """(collection, id, body) in an order where every reference already exists."""
    records: list[tuple[str, dict[str, Any]]] = [
        ("sources", {
            "slug": ARTICLE,
            "title": "Chinese OEMs pivot to semi-solid-state batteries",
            "kind": "report",
            "note": "A Shanghai-based analyst's market report on semi-solid-state EV batteries "
            "in China (2026): the table of partnerships this dataset started from.",
        }),
        ("automakers", _company("nio", "NIO", "蔚来", website="https://www.nio.com")),
        ("automakers", _company("saic", "SAIC", "上汽集团")),
        ("automakers", _company("im-motors", "IM Motors", "智己汽车", parent_id="saic")),
        ("automakers", _company("changan", "Changan", "长安汽车")),
        ("automakers", _company("deepal", "Deepal", "深蓝汽车", parent_id="changan")),
        ("battery-partners", _company("welion", "WeLion", "卫蓝新能源")),
        ("battery-partners", _company("qingtao-energy", "QingTao Energy", "清陶能源")),
        ("battery-partners", _company("ganfeng-li-energy", "Ganfeng Li-Energy", "赣锋锂电")),
        ("batteries", _battery("welion-semi-solid", "WeLion semi-solid-state battery", "welion")),
        ("batteries", _battery("qingtao-semi-solid", "QingTao semi-solid-state battery",
                               "qingtao-energy")),
        ("batteries", _battery("ganfeng-semi-solid", "Ganfeng semi-solid-state battery",
                               "ganfeng-li-energy")),
    ]  # fmt: skip
    for automaker, partner, battery, stage, status_text, figure, title in TABLE:
        partnership = str(demo_id("partnerships", automaker))
        records.append(("partnerships", {
            "automaker_id": automaker, "battery_partner_id": partner, "battery_id": battery,
            "status": "active", "stage": stage, "commercialization_status": status_text,
            "source_id": ARTICLE,
        }))  # fmt: skip
        low, high, status = figure
        records.append(("energy-densities", {
            "battery_partner_id": partner, "battery_id": battery, "partnership_id": partnership,
            "value_min": low, "value_max": high, "unit": "Wh/kg", "level": "cell",
            "status": status, "source_id": ARTICLE,
            "note": "The report gives the figure without its level; cell level assumed.",
        }))  # fmt: skip
        records.append(("milestones", {
            "partnership_id": partnership, "stage": stage, "status": "achieved",
            "date": "2026-01-01", "date_precision": "year", "title": title,
            "description": "Reported as reached by the time of the 2026 report.",
            "source_id": ARTICLE,
        }))  # fmt: skip
    records.append(("milestones", {
        "automaker_id": "deepal", "stage": "mass_production", "status": "planned",
        "date": "2030-01-01", "date_precision": "year",
        "title": "All-solid-state batteries at mass-market scale, not before 2030",
        "description": "Deepal CEO Deng Chenghao: true mass-market integration of all-solid-state "
        "batteries will not realistically scale until 2030 or later.",
        "source_id": ARTICLE,
    }))  # fmt: skip
    return [(path, _id(path, body), body) for path, body in records]


def _id(path: str, body: dict[str, Any]) -> uuid.UUID:
    if "slug" in body:
        return demo_id(path, body["slug"])
    if path == "partnerships":
        return demo_id(path, body["automaker_id"])
    if path == "energy-densities":
        return demo_id(path, body["partnership_id"])
    return demo_id(path, body["title"])


def seed(engine: Engine) -> Counter[str]:
    """Write the demo records in one transaction; identical records are left as they are."""
    outcomes: Counter[str] = Counter()
    by_path = {spec.path: spec for spec in SPECS}
    with write_session(engine) as session:
        for path, record_id, raw in demo_records():
            spec = by_path[path]
            body = spec.models.create.model_validate(raw)
            written = writes.apply_put(session, spec, record_id, body, Conditions(), SYSTEM)
            outcome = {Op.create: "created", Op.update: "updated", None: "unchanged"}[written.op]
            outcomes[outcome] += 1
        writes.commit(session)
    return outcomes
