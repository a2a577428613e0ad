"""Inventory services: import a parsed file, list nodes, resolve a selector to targets."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from squall.core import audit
from squall.core.auth import Actor, AuthTarget, authorize, is_allowed
from squall.core.errors import InventoryError
from squall.core.events import emit
from squall.core.inventory.model import InventorySpec
from squall.core.inventory.selectors import parse_selector
from squall.core.models import Cluster, Deployment, Node, NodeLease, NodeTask, utcnow
from squall.core.permissions import Permission
from squall.core.plan import NodeInfo
from squall.core.runtime import Runtime
from squall.core.values.inventory import ImportSummary, NodeListing


def import_inventory(
    session: Session, rt: Runtime, actor: Actor, spec: InventorySpec
) -> ImportSummary:
    """Make each cluster in `spec` exactly as the file describes it; other clusters stay.

    All or nothing: a problem anywhere raises before anything is written.
    """
    names = [cluster.name for cluster in spec.clusters]
    authorize(
        rt.plugins.hook,
        actor,
        Permission.INVENTORY_EDIT,
        AuthTarget(
            "inventory",
            spec.source,
            clusters=tuple(names),
            environments=tuple({c.environment for c in spec.clusters if c.environment}),
        ),
    )
    if not spec.clusters:
        raise InventoryError("the file defines no clusters", source=spec.source)
    check_sizes(spec)
    incoming = {node.name: cluster.name for cluster, node in spec.nodes()}
    clashes = session.execute(
        select(Node.name, Cluster.name)
        .join(Cluster)
        .where(Node.name.in_(incoming), Cluster.name.not_in(names))
    ).all()
    if clashes:
        taken, owner = clashes[0]
        raise InventoryError(
            f"node {taken!r} already belongs to cluster {owner!r}, which this file does not "
            f"define; node names are unique across the inventory",
            source=spec.source,
        )
    existing = {
        cluster.name: cluster
        for cluster in session.scalars(
            select(Cluster).where(Cluster.name.in_(names)).options(selectinload(Cluster.nodes))
        )
    }
    added = updated = removed = 0
    now = utcnow()
    for cluster_spec in spec.clusters:
        cluster = existing.get(cluster_spec.name)
        if cluster is None:
            cluster = Cluster(name=cluster_spec.name, source=spec.source, nodes=[])
            session.add(cluster)
        cluster.environment = cluster_spec.environment
        cluster.source = spec.source
        cluster.updated_at = now
        current = {existing.name: existing for existing in cluster.nodes}
        wanted = {node_spec.name for node_spec in cluster_spec.nodes}
        for name, stale in current.items():
            if name not in wanted:
                cluster.nodes.remove(stale)
                removed += 1
        session.flush()  # removed names may be reused by nodes moving between clusters
        for node_spec in cluster_spec.nodes:
            values = {
                "host": node_spec.host,
                "port": node_spec.port,
                "user": node_spec.user,
                "transport": node_spec.transport,
                "tags": list(node_spec.tags),
                "vars": dict(node_spec.vars),
            }
            known = current.get(node_spec.name)
            if known is None:
                cluster.nodes.append(Node(name=node_spec.name, **values))
                added += 1
            elif any(getattr(known, key) != value for key, value in values.items()):
                for key, value in values.items():
                    setattr(known, key, value)
                updated += 1
    session.flush()
    summary = ImportSummary(spec.source, tuple(names), added, updated, removed)
    details: dict[str, Any] = {
        "clusters": list(names),
        "added": added,
        "updated": updated,
        "removed": removed,
    }
    emit(session, "inventory.imported", actor=actor.name, source=spec.source, **details)
    audit.record(session, actor, "inventory.import", spec.source, details)
    return summary


def import_file(session: Session, rt: Runtime, actor: Actor, path: Path) -> ImportSummary:
    from squall.core.inventory.loader import load_inventory  # the parsers: only to read files

    return import_inventory(session, rt, actor, load_inventory(path))


MAX_FILE_NAME = 200


def import_text(session: Session, rt: Runtime, actor: Actor, name: str, text: str) -> ImportSummary:
    """An inventory sent as text (through the API); `name` is the file's name, whose
    ending tells INI from YAML."""
    if not name.strip() or len(name) > MAX_FILE_NAME or any(c in name for c in "\0\r\n"):
        raise InventoryError(
            f"the file name must be 1 to {MAX_FILE_NAME} characters on one line "
            f"(this one has {len(name)})"
        )
    from squall.core.inventory.loader import parse_inventory

    return import_inventory(session, rt, actor, parse_inventory(text, name))


_LIMITS = {"name": 200, "host": 255, "user": 100, "environment": 100}
"""The longest value the database keeps, by field."""


def check_sizes(spec: InventorySpec) -> None:
    """Every value fits its column: refused with the field named, never cut or a crash."""

    def check(what: str, field: str, value: str | None) -> None:
        if value is not None and len(value) > _LIMITS[field]:
            raise InventoryError(
                f"{what}: {field} is {len(value)} characters long; at most {_LIMITS[field]}",
                source=spec.source,
            )

    for cluster in spec.clusters:
        check(f"cluster {cluster.name[:40]!r}", "name", cluster.name)
        check(f"cluster {cluster.name[:40]!r}", "environment", cluster.environment)
        for node in cluster.nodes:
            for field in ("name", "host", "user"):
                check(f"node {node.name[:40]!r}", field, getattr(node, field))


def remove_clusters(
    session: Session, rt: Runtime, actor: Actor, names: list[str]
) -> tuple[str, ...]:
    """Take clusters and their nodes out of the inventory (deployments keep their record).
    Refused, and nothing removed, if a name is unknown or a node is being deployed to."""
    if not names:
        raise InventoryError("name at least one cluster to remove")
    found = {
        cluster.name: cluster
        for cluster in session.scalars(
            select(Cluster).where(Cluster.name.in_(names)).options(selectinload(Cluster.nodes))
        )
    }
    unknown = sorted(set(names) - set(found))
    if unknown:
        raise InventoryError(f"no cluster {', '.join(unknown)}")
    authorize(
        rt.plugins.hook,
        actor,
        Permission.INVENTORY_EDIT,
        AuthTarget(
            "inventory",
            clusters=tuple(sorted(found)),
            environments=tuple(sorted({c.environment for c in found.values() if c.environment})),
        ),
    )
    nodes = [node.name for cluster in found.values() for node in cluster.nodes]
    busy = session.scalar(select(NodeLease.node_name).where(NodeLease.node_name.in_(nodes)))
    if busy is not None:
        raise InventoryError(f"node {busy} is being deployed to: wait for it, or cancel it first")
    for cluster in found.values():
        session.delete(cluster)
    session.flush()
    removed = tuple(sorted(found))
    emit(session, "inventory.removed", actor=actor.name, clusters=list(removed), nodes=len(nodes))
    audit.record(
        session, actor, "inventory.remove", ", ".join(removed), {"clusters": list(removed)}
    )
    return removed


def remove(
    session: Session, rt: Runtime, actor: Actor, names: list[str], *, demo: bool = False
) -> tuple[str, ...]:
    """`remove_clusters` of the named clusters, and with `demo` those of the demo
    inventory; refused when `demo` is asked and there is none."""
    chosen = list(names)
    if demo:
        found = demo_clusters(session, rt)
        if not found:
            raise InventoryError("there is no demo inventory to remove")
        chosen += found
    return remove_clusters(session, rt, actor, chosen)


def demo_clusters(session: Session, rt: Runtime) -> list[str]:
    """The clusters of the demo inventory, if it is still there."""
    source = str(rt.settings.data_dir / "demo" / "inventory.yaml")
    return list(session.scalars(select(Cluster.name).where(Cluster.source == source)))


def all_nodes(session: Session) -> list[NodeInfo]:
    # Columns, not Node objects: every deployment reads the whole inventory (to preview,
    # check and create it), and building ORM objects for a thousand nodes took longer
    # than the query.
    rows = session.execute(
        select(
            Node.name,
            Cluster.name,
            Node.host,
            Node.port,
            Node.user,
            Node.transport,
            Node.tags,
            Node.vars,
            Cluster.environment,
        )
        .join(Cluster)
        .order_by(Cluster.name, Node.name)
    )
    return [
        NodeInfo(
            name=name,
            cluster=cluster,
            host=host,
            port=port,
            user=user,
            transport=transport,
            tags=tuple(tags),
            vars=dict(vars_),
            environment=environment,
        )
        for name, cluster, host, port, user, transport, tags, vars_, environment in rows
    ]


def resolve_targets(session: Session, selector_text: str) -> list[NodeInfo]:
    """The nodes a selector picks, in inventory order; an error when it picks none."""
    selector = parse_selector(selector_text)
    nodes = selector.select(all_nodes(session))
    if not nodes:
        raise InventoryError(f"the target {selector_text!r} matches no node of the inventory")
    return nodes


DEMO_CLUSTERS = {"demo-web": 3, "demo-api": 3, "demo-cache": 2}


def ensure_demo_inventory(session: Session, rt: Runtime, actor: Actor) -> Path | None:
    """On a fresh installation in local mode, create and import a demo inventory of local
    nodes. Never with single sign-on: a shared Squall must not offer its own host."""
    root = rt.settings.data_dir / "demo"
    path = root / "inventory.yaml"
    if (
        not rt.settings.demo_inventory
        or rt.settings.sso.enabled
        or path.exists()  # made once: `squall inventory remove --demo` keeps it removed
        or session.scalar(select(Cluster.id).limit(1)) is not None
    ):
        return None
    clusters = {
        name: {
            "environment": "demo",
            "defaults": {"transport": "local", "tags": ["demo", name.removeprefix("demo-")]},
            "nodes": [
                {
                    "name": f"{name}-{index}",
                    "host": "localhost",
                    "root": str(root / f"{name}-{index}"),
                }
                for index in range(1, count + 1)
            ],
        }
        for name, count in DEMO_CLUSTERS.items()
    }
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Demo inventory: local nodes, each a folder under this directory.\n"
        + yaml.safe_dump({"clusters": clusters}, sort_keys=False)
    )
    import_file(session, rt, actor, path)
    return path


@dataclass(frozen=True)
class NodeRow:
    """A node with the last deployment that touched it."""

    node: NodeInfo
    last_deployment: int | None
    last_type: str | None
    last_status: str | None
    last_at: dt.datetime | None


@dataclass(frozen=True)
class ClusterRow:
    name: str
    environment: str | None
    source: str
    nodes: int


def overview(session: Session, rt: Runtime, actor: Actor) -> tuple[list[ClusterRow], list[NodeRow]]:
    """Clusters, and every node with its last deployment and how that went for the node."""
    authorize(rt.plugins.hook, actor, Permission.VIEW, AuthTarget("inventory", partial=True))
    visible = in_scope(rt, actor)
    clusters = [
        ClusterRow(cluster.name, cluster.environment, cluster.source, count)
        for cluster, count in session.execute(
            select(Cluster, func.count(Node.id))
            .outerjoin(Node)
            .group_by(Cluster.id)
            .order_by(Cluster.name)
        )
        if visible(cluster.name, cluster.environment)
    ]
    ranked = select(
        NodeTask.node_name,
        NodeTask.deployment_id,
        NodeTask.status,
        NodeTask.finished_at,
        func.row_number()
        .over(partition_by=NodeTask.node_name, order_by=NodeTask.id.desc())
        .label("rank"),
    ).subquery()
    last = {
        row.node_name: row
        for row in session.execute(
            select(ranked, Deployment.type)
            .join(Deployment, Deployment.id == ranked.c.deployment_id)
            .where(ranked.c.rank == 1)
        )
    }
    rows = []
    for node in all_nodes(session):
        if not visible(node.cluster, node.environment):
            continue
        found = last.get(node.name)
        rows.append(
            NodeRow(
                node,
                found.deployment_id if found else None,
                found.type if found else None,
                found.status.value if found else None,
                found.finished_at if found else None,
            )
        )
    return clusters, rows


def list_nodes(
    session: Session, rt: Runtime, actor: Actor, selector: str = "all"
) -> list[NodeListing]:
    """The nodes a selector picks, for people and scripts deciding what to deploy to."""
    authorize(rt.plugins.hook, actor, Permission.VIEW, AuthTarget("inventory", partial=True))
    visible = in_scope(rt, actor)
    try:
        nodes = resolve_targets(session, selector)
    except InventoryError:
        if selector == "all":
            return []  # an empty inventory: nothing to list, not a selector that missed
        raise
    return [
        NodeListing(
            cluster=node.cluster,
            name=node.name,
            address=node.address,
            user=node.user,
            transport=node.transport,
            tags=tuple(node.tags),
            environment=node.environment,
        )
        for node in nodes
        if visible(node.cluster, node.environment)
    ]


def in_scope(rt: Runtime, actor: Actor) -> Callable[[str, str | None], bool]:
    """Whether some grant of the actor lets them see a cluster (by name and environment):
    listings show no more than that."""
    hook = rt.plugins.hook
    if is_allowed(hook, actor, Permission.VIEW, AuthTarget("inventory")):
        return lambda _cluster, _environment: True  # an unscoped grant sees everything

    @functools.cache
    def covered(cluster: str, environment: str | None) -> bool:
        target = AuthTarget(
            "inventory",
            cluster,
            clusters=(cluster,),
            environments=(environment,) if environment else (),
        )
        return is_allowed(hook, actor, Permission.VIEW, target)

    return covered
