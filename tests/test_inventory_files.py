from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from squall.core.errors import InventoryError
from squall.core.inventory import (
    ClusterSpec,
    InventorySpec,
    NodeSpec,
    detect_format,
    load_inventory,
    parse_ansible_ini,
    parse_ansible_yaml,
    parse_inventory,
    parse_squall_yaml,
)


def text(block: str) -> str:
    return dedent(block).lstrip("\n")


def nodes_by_name(inventory: InventorySpec) -> dict[str, NodeSpec]:
    return {node.name: node for _, node in inventory.nodes()}


def cluster_of(inventory: InventorySpec) -> dict[str, str]:
    return {node.name: cluster.name for cluster, node in inventory.nodes()}


def cluster_named(inventory: InventorySpec, name: str) -> ClusterSpec:
    return next(cluster for cluster in inventory.clusters if cluster.name == name)


# Squall YAML ---------------------------------------------------------------------------


@pytest.fixture
def squall_inventory() -> InventorySpec:
    return parse_squall_yaml(
        text("""
            clusters:
              web-eu:
                environment: production
                defaults:
                  user: deploy
                  port: 2200
                  tags: [web, eu]
                nodes:
                  - name: web-eu-1
                    host: 10.0.0.1
                    port: 2222
                    tags: [canary, web]
                    jump_host: bastion.example.com
                  - web-eu-2.example.com
                  - host: 10.0.0.3
                    user: admin
              demo:
                nodes:
                  - name: demo-1
                    transport: local
                    root: /var/lib/squall/demo/demo-1
            """),
        "inventory.yaml",
    )


def test_squall_yaml_keeps_clusters_and_nodes_in_file_order(
    squall_inventory: InventorySpec,
) -> None:
    assert squall_inventory.source == "inventory.yaml"
    assert [cluster.name for cluster in squall_inventory.clusters] == ["web-eu", "demo"]
    assert list(cluster_of(squall_inventory)) == [
        "web-eu-1",
        "web-eu-2.example.com",
        "10.0.0.3",
        "demo-1",
    ]


def test_cluster_defaults_apply_to_nodes_that_do_not_override_them(
    squall_inventory: InventorySpec,
) -> None:
    nodes = nodes_by_name(squall_inventory)
    assert (nodes["web-eu-1"].user, nodes["web-eu-1"].port) == ("deploy", 2222)
    assert (nodes["10.0.0.3"].user, nodes["10.0.0.3"].port) == ("admin", 2200)


def test_node_tags_are_merged_with_default_tags_sorted_and_deduplicated(
    squall_inventory: InventorySpec,
) -> None:
    nodes = nodes_by_name(squall_inventory)
    assert nodes["web-eu-1"].tags == ("canary", "eu", "web")
    assert nodes["web-eu-2.example.com"].tags == ("eu", "web")


def test_shorthand_node_is_a_host_named_after_itself(squall_inventory: InventorySpec) -> None:
    node = nodes_by_name(squall_inventory)["web-eu-2.example.com"]
    assert node == NodeSpec(
        name="web-eu-2.example.com",
        host="web-eu-2.example.com",
        port=2200,
        user="deploy",
        tags=("eu", "web"),
    )


def test_jump_host_and_local_root_become_node_vars(squall_inventory: InventorySpec) -> None:
    nodes = nodes_by_name(squall_inventory)
    assert dict(nodes["web-eu-1"].vars) == {"jump_host": "bastion.example.com"}
    assert dict(nodes["demo-1"].vars) == {"root": "/var/lib/squall/demo/demo-1"}


def test_local_node_without_host_runs_on_localhost(squall_inventory: InventorySpec) -> None:
    node = nodes_by_name(squall_inventory)["demo-1"]
    assert (node.transport, node.host) == ("local", "localhost")


def test_cluster_environment_is_optional(squall_inventory: InventorySpec) -> None:
    environments = [cluster.environment for cluster in squall_inventory.clusters]
    assert environments == ["production", None]


def test_numeric_names_in_yaml_are_read_as_text() -> None:
    inventory = parse_squall_yaml("clusters:\n  2024:\n    nodes: [1234]\n", "numbers.yaml")
    assert cluster_of(inventory) == {"1234": "2024"}


def test_node_vars_are_read_only_and_nodes_stay_hashable(
    squall_inventory: InventorySpec,
) -> None:
    node = nodes_by_name(squall_inventory)["web-eu-1"]
    with pytest.raises(TypeError):
        node.vars["jump_host"] = "elsewhere"  # type: ignore[index]
    assert node in {node}


# Ansible INI ---------------------------------------------------------------------------


@pytest.fixture
def ini_inventory() -> InventorySpec:
    return parse_ansible_ini(
        text("""
            # Comments in both styles are skipped.
            ; like this one
            lonely.example.com

            [web]
            web[01:03].example.com ansible_user="deploy"
            canary.example.com:2222 ansible_host=10.0.0.9   # port in the pattern

            [db]
            db-[a:c] ansible_host='10.1.0.1'
            web01.example.com

            [tools]
            localhost ansible_connection=local

            [eu:children]
            web
            db

            [eu:vars]
            squall_environment=production
            ansible_user = eu-user
            ansible_port=2100

            [web:vars]
            ansible_port=2201
            """),
        "hosts",
    )


def test_ini_host_ranges_expand_with_zero_padding_and_letters(
    ini_inventory: InventorySpec,
) -> None:
    names = list(cluster_of(ini_inventory))
    assert names[1:4] == ["web01.example.com", "web02.example.com", "web03.example.com"]
    assert names[5:8] == ["db-a", "db-b", "db-c"]


def test_ini_host_in_several_groups_belongs_to_the_first_and_is_tagged_with_all(
    ini_inventory: InventorySpec,
) -> None:
    assert cluster_of(ini_inventory)["web01.example.com"] == "web"
    assert nodes_by_name(ini_inventory)["web01.example.com"].tags == ("db", "eu", "web")


def test_ini_parent_groups_are_tags_but_not_clusters(ini_inventory: InventorySpec) -> None:
    assert [cluster.name for cluster in ini_inventory.clusters] == [
        "ungrouped",
        "web",
        "db",
        "tools",
    ]
    assert nodes_by_name(ini_inventory)["db-b"].tags == ("db", "eu")


def test_ini_hosts_outside_any_group_form_the_ungrouped_cluster(
    ini_inventory: InventorySpec,
) -> None:
    node = nodes_by_name(ini_inventory)["lonely.example.com"]
    assert cluster_of(ini_inventory)[node.name] == "ungrouped"
    assert node.tags == ("ungrouped",)


def test_ini_host_vars_beat_child_group_vars_which_beat_parent_group_vars(
    ini_inventory: InventorySpec,
) -> None:
    nodes = nodes_by_name(ini_inventory)
    assert (nodes["web02.example.com"].user, nodes["web02.example.com"].port) == ("deploy", 2201)
    assert (nodes["db-a"].user, nodes["db-a"].port) == ("eu-user", 2100)
    assert (nodes["canary.example.com"].host, nodes["canary.example.com"].port) == (
        "10.0.0.9",
        2222,
    )


def test_ini_quotes_are_removed_from_values(ini_inventory: InventorySpec) -> None:
    assert nodes_by_name(ini_inventory)["db-c"].host == "10.1.0.1"


def test_ini_ansible_connection_local_makes_a_local_node(ini_inventory: InventorySpec) -> None:
    node = nodes_by_name(ini_inventory)["localhost"]
    assert (node.transport, node.host) == ("local", "localhost")
    assert nodes_by_name(ini_inventory)["db-a"].transport == "ssh"


def test_ini_squall_environment_sets_the_environment_of_clusters_it_reaches(
    ini_inventory: InventorySpec,
) -> None:
    environments = {cluster.name: cluster.environment for cluster in ini_inventory.clusters}
    assert environments == {
        "ungrouped": None,
        "web": "production",
        "db": "production",
        "tools": None,
    }


def test_ini_group_declared_after_its_parent_section_is_accepted() -> None:
    inventory = parse_ansible_ini(
        "[all:vars]\nansible_user=ops\n[eu:children]\nweb\n[web]\nw1\n", "hosts"
    )
    assert nodes_by_name(inventory)["w1"] == NodeSpec(
        name="w1",
        host="w1",
        user="ops",
        tags=("eu", "web"),
    )


def test_ini_stepped_range_and_deeper_group_priority_follow_ansible() -> None:
    inventory = parse_ansible_ini(
        text("""
            [b]
            n[08:12:2]
            [a]
            n10
            [a:vars]
            ansible_group_priority=10
            ansible_user=from-a
            [b:vars]
            ansible_user=from-b
            """),
        "hosts",
    )
    assert list(cluster_of(inventory)) == ["n08", "n10", "n12"]
    assert nodes_by_name(inventory)["n10"].user == "from-a"
    assert nodes_by_name(inventory)["n08"].user == "from-b"


# Ansible YAML --------------------------------------------------------------------------


@pytest.fixture
def ansible_yaml_inventory() -> InventorySpec:
    return parse_ansible_yaml(
        text("""
            all:
              hosts:
                solo:
                  ansible_host: 192.168.0.5
              vars:
                ansible_user: root
              children:
                eu:
                  vars:
                    squall_environment: production
                    ansible_port: 2100
                  children:
                    web:
                      hosts:
                        web[1:3]:
                        web9:2222:
                          ansible_user: nine
                      vars:
                        ansible_port: 2200
                      children:
                        canary:
                          hosts:
                            web2:
                    db:
                      hosts:
                        db1: {ansible_connection: local}
            """),
        "hosts.yaml",
    )


def test_yaml_inventory_makes_clusters_of_groups_that_list_hosts(
    ansible_yaml_inventory: InventorySpec,
) -> None:
    assert cluster_of(ansible_yaml_inventory) == {
        "solo": "ungrouped",
        "web1": "web",
        "web2": "web",
        "web3": "web",
        "web9": "web",
        "db1": "db",
    }


def test_yaml_inventory_tags_hosts_with_every_group_they_belong_to(
    ansible_yaml_inventory: InventorySpec,
) -> None:
    nodes = nodes_by_name(ansible_yaml_inventory)
    assert nodes["web2"].tags == ("canary", "eu", "web")
    assert nodes["solo"].tags == ("ungrouped",)


def test_yaml_inventory_resolves_vars_like_ansible(
    ansible_yaml_inventory: InventorySpec,
) -> None:
    nodes = nodes_by_name(ansible_yaml_inventory)
    assert (nodes["solo"].host, nodes["solo"].user, nodes["solo"].port) == (
        "192.168.0.5",
        "root",
        22,
    )
    assert (nodes["web1"].user, nodes["web1"].port) == ("root", 2200)
    assert (nodes["web9"].user, nodes["web9"].port) == ("nine", 2222)
    assert (nodes["db1"].transport, nodes["db1"].port) == ("local", 2100)
    assert cluster_named(ansible_yaml_inventory, "db").environment == "production"


def test_yaml_and_ini_forms_of_one_inventory_give_the_same_clusters() -> None:
    ini = parse_ansible_ini(
        "[web]\nw[1:2] ansible_port=2222\n[web:vars]\nansible_user=deploy\n"
        "[prod:children]\nweb\n[prod:vars]\nsquall_environment=production\n",
        "hosts",
    )
    yaml_form = parse_ansible_yaml(
        text("""
            prod:
              vars: {squall_environment: production}
              children:
                web:
                  hosts:
                    w[1:2]: {ansible_port: 2222}
                  vars: {ansible_user: deploy}
            """),
        "hosts",
    )
    assert yaml_form == ini


# Loading and format detection ----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "content", "expected"),
    [
        ("inventory", "clusters:\n  web:\n    nodes: [w1]\n", "squall-yaml"),
        ("inventory", "all:\n  hosts:\n    h1:\n", "ansible-yaml"),
        ("inventory", "web:\n  hosts:\n    h1:\n", "ansible-yaml"),
        ("inventory", "[web]\nh1\n", "ansible-ini"),
        ("inventory", "h1 ansible_port=22\n", "ansible-ini"),
        ("inventory.ini", "all:\n  hosts:\n    h1:\n", "ansible-ini"),
        ("inventory.yml", "# nothing yet\n", "ansible-yaml"),
    ],
)
def test_format_is_detected_from_content_and_suffix(
    source: str,
    content: str,
    expected: str,
) -> None:
    assert detect_format(content, source) == expected


def test_load_inventory_reads_the_file_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("[web]\nw1\n", encoding="utf-8")
    inventory = load_inventory(path)
    assert inventory == InventorySpec(
        source=str(path),
        clusters=(ClusterSpec("web", None, (NodeSpec(name="w1", host="w1", tags=("web",)),)),),
    )


def test_file_without_content_is_an_inventory_without_clusters() -> None:
    assert parse_inventory("# no hosts yet\n", "hosts").clusters == ()


def test_missing_file_is_an_inventory_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"absent\.yaml: no such file"):
        load_inventory(tmp_path / "absent.yaml")


def test_folder_is_not_an_inventory(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="is a folder"):
        load_inventory(tmp_path)


def test_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(b"[web]\nw\xff1\n")
    with pytest.raises(InventoryError, match=r"hosts:2: the file is not UTF-8"):
        load_inventory(path)


# Malformed files -----------------------------------------------------------------------

SQUALL = text("""
    clusters:
      web:
        environment: production
        defaults:
          user: deploy
        nodes:
          - name: w1
            host: 10.0.0.1
            port: 2222
    """)


@pytest.mark.parametrize(
    ("source", "content", "expected"),
    [
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("port: 2222", "port: abc"),
            "inventory.yaml:9: clusters.web.nodes[0].port: Input should be a valid integer",
            id="squall-port-not-a-number",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("port: 2222", "port: 70000"),
            "inventory.yaml:9: clusters.web.nodes[0].port: port must be between 1 and 65535",
            id="squall-port-out-of-range",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("port: 2222", "port: true"),
            "inventory.yaml:9: clusters.web.nodes[0].port: Input should be a valid integer",
            id="squall-port-boolean",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("port: 2222", "transport: winrm"),
            "inventory.yaml:9: clusters.web.nodes[0].transport: Input should be 'ssh' or 'local'",
            id="squall-unknown-transport",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("user: deploy", "usr: deploy"),
            "inventory.yaml:5: clusters.web.defaults.usr: unknown field",
            id="squall-unknown-field",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("  web:", "  web eu:"),
            "inventory.yaml:2: clusters.web eu: must not contain whitespace",
            id="squall-cluster-name-with-space",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("name: w1", "name: ''"),
            "inventory.yaml:7: clusters.web.nodes[0].name: must not be empty",
            id="squall-empty-node-name",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("    nodes:", "    hosts:"),
            "inventory.yaml:6: clusters.web.hosts: unknown field (and 1 more problem)",
            id="squall-nodes-misspelled",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("- name: w1\n        host: 10.0.0.1\n", "- user: x\n"),
            "inventory.yaml:7: clusters.web.nodes[0]: a node needs a name or a host",
            id="squall-node-without-name-or-host",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL + "      - w1\n",
            "inventory.yaml:10: clusters.web.nodes[1].host: node name 'w1' is already used "
            "on line 7",
            id="squall-node-name-used-twice",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL + "  web:\n    nodes: []\n",
            "inventory.yaml:10: key 'web' appears twice (first on line 2)",
            id="squall-cluster-defined-twice",
        ),
        pytest.param(
            "inventory.yaml",
            SQUALL.replace("host: 10.0.0.1", "host: [10.0.0.1"),
            "inventory.yaml:9: not valid YAML: expected ',' or ']'",
            id="squall-yaml-syntax",
        ),
        pytest.param(
            "inventory",
            "clusters:\n  web:\n\tnodes: []\n",
            "inventory:3: not valid YAML: found character '\\t' that cannot start any token",
            id="yaml-syntax-in-a-file-without-suffix",
        ),
        pytest.param(
            "inventory.yaml",
            "cluster:\n  web:\n    nodes: []\n",
            "inventory.yaml:1: unrecognised inventory",
            id="squall-without-clusters",
        ),
        pytest.param(
            "inventory.yaml",
            "- web\n",
            "inventory.yaml:1: expected a mapping at the top level",
            id="yaml-file-of-the-wrong-shape",
        ),
        pytest.param(
            "hosts",
            "[web]\nw1\nw2:http\n",
            "hosts:3: invalid port 'http' in host pattern",
            id="ini-bad-port-in-pattern",
        ),
        pytest.param(
            "hosts",
            "[web]\nw1\n\n[web:vars]\nansible_port=99999\n",
            "hosts:5: ansible_port: port must be between 1 and 65535",
            id="ini-bad-port-in-group-vars",
        ),
        pytest.param(
            "hosts",
            "[web]\nw1 ansible_port=ssh\n",
            "hosts:2: ansible_port must be a number, not 'ssh'",
            id="ini-port-not-a-number",
        ),
        pytest.param(
            "hosts",
            "[web]\nw1\n[web:vars]\nansible_user deploy\n",
            "hosts:4: expected key=value in [web:vars], got 'ansible_user deploy'",
            id="ini-group-var-without-equals",
        ),
        pytest.param(
            "hosts",
            "[web]\nw1 deploy\n",
            "hosts:2: expected key=value host variable, got 'deploy'",
            id="ini-host-var-without-equals",
        ),
        pytest.param(
            "hosts",
            '[web]\nw1 ansible_user="deploy\n',
            "hosts:2: cannot read host line: No closing quotation",
            id="ini-host-var-unclosed-quote",
        ),
        pytest.param(
            "hosts",
            "[web]\nw[1:]\n",
            "hosts:2: malformed host range [1:] in 'w[1:]'",
            id="ini-range-without-end",
        ),
        pytest.param(
            "hosts",
            "[web]\nw[01:100]\n",
            "hosts:2: malformed host range [01:100] in 'w[01:100]': zero-padded start and end",
            id="ini-range-of-unequal-widths",
        ),
        pytest.param(
            "hosts",
            "[web]\nw[1:a]\n",
            "hosts:2: malformed host range [1:a] in 'w[1:a]': start and end must both be",
            id="ini-range-mixing-numbers-and-letters",
        ),
        pytest.param(
            "hosts",
            "[web]\nw[5:1]\n",
            "hosts:2: malformed host range [5:1] in 'w[5:1]': the start comes after the end",
            id="ini-range-backwards",
        ),
        pytest.param(
            "hosts",
            "[web]\nw[1:3\n",
            "hosts:2: malformed host range in 'w[1:3': '[' without ']'",
            id="ini-range-unclosed",
        ),
        pytest.param(
            "hosts",
            "[web:things]\nw1\n",
            "hosts:1: section [web:things] has unknown type 'things'",
            id="ini-unknown-section-type",
        ),
        pytest.param(
            "hosts",
            "[web servers]\nw1\n",
            "hosts:1: invalid section header [web servers]",
            id="ini-section-with-space",
        ),
        pytest.param(
            "hosts",
            "[web]\nw1\n[eu:children]\nweb\nmissing\n",
            "hosts:5: section [eu:children] includes undefined group 'missing'",
            id="ini-children-naming-undefined-group",
        ),
        pytest.param(
            "hosts",
            "[web]\nw1\n[db:vars]\nansible_user=x\n",
            "hosts:3: section [db:vars] is for undefined group 'db'",
            id="ini-vars-for-undefined-group",
        ),
        pytest.param(
            "hosts",
            "[a:children]\nb\n[b:children]\na\n",
            "hosts:4: adding group 'a' as a child of 'b' makes a group its own ancestor",
            id="ini-children-cycle",
        ),
        pytest.param(
            "hosts",
            "[web]\nw1 ansible_connection=winrm\n",
            "hosts:2: ansible_connection 'winrm' is not supported",
            id="ini-unsupported-connection",
        ),
        pytest.param(
            "hosts",
            "[web]\nw1\nw2 squall_environment=staging\n[web:vars]\nsquall_environment=production\n",
            "hosts:3: cluster 'web' would span two environments",
            id="ini-cluster-in-two-environments",
        ),
        pytest.param(
            "hosts.yml",
            "web:\n  hosts:\n    - w1\n",
            "hosts.yml:3: hosts of group 'web' must be a mapping, found a list",
            id="ansible-yaml-hosts-as-list",
        ),
        pytest.param(
            "hosts.yml",
            "all:\n  children:\n    web:\n      host:\n        w1:\n",
            "hosts.yml:4: group 'web' has unknown key 'host'",
            id="ansible-yaml-unknown-group-key",
        ),
        pytest.param(
            "hosts.yml",
            "all:\n  children:\n    web:\n      hosts:\n        w1:\n"
            "          ansible_port: [22]\n",
            "hosts.yml:6: ansible_port must be a single value, found a list",
            id="ansible-yaml-port-as-list",
        ),
        pytest.param(
            "hosts.yml",
            "all:\n  hosts:\n    w1:\n      ansible_port: 0\n",
            "hosts.yml:4: ansible_port: port must be between 1 and 65535, not 0",
            id="ansible-yaml-port-zero",
        ),
        pytest.param(
            "hosts.yml",
            "all:\n  children:\n    web: [w1]\n",
            "hosts.yml:3: group 'web' must be a mapping, found a list",
            id="ansible-yaml-group-as-list",
        ),
    ],
)
def test_malformed_file_error_names_its_line_and_field(
    source: str,
    content: str,
    expected: str,
) -> None:
    with pytest.raises(InventoryError) as raised:
        parse_inventory(content, source)
    assert str(raised.value).startswith(expected)


def test_squall_parser_refuses_a_file_without_clusters() -> None:
    with pytest.raises(InventoryError, match=r"^x\.yaml:1: expected a top-level 'clusters'"):
        parse_squall_yaml("all:\n  hosts: {}\n", "x.yaml")
