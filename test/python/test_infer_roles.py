"""DecloudInfer's role table, python/decloud/roles.def (the app #includes it as Roles[] and Timestamps[],
decloud.infer parses it into ROLES...), and the installed app agree: one parameter per role, named by the table's
description, a candidate list exactly for the roles that take candidates, no image parameter of the app left out,
the date parameters; a malformed table line is refused; decloud infer has one option per role; the dates of a
synthesis (card roles s2_d0 ... fed by -s2.dates) are one list role each. (That each role feeds its card role is
what test_original_families and test_synthesis_model run end to end.)"""

from __future__ import annotations

import pytest
from decloud.cli import main as cli_main
from decloud.infer import (
    CANDIDATE_ROLES,
    DATE_KEYS,
    INDEXED_ROLES,
    LIST_ROLES,
    ROLE_KEYS,
    ROLE_TABLE,
    ROLES,
    TIMESTAMP_TABLE,
    parse_role_table,
    role_option,
    table_role,
)


def test_the_app_has_the_python_table_s_parameters():
    otb = pytest.importorskip("otbApplication")
    app = otb.Registry.CreateApplication("DecloudInfer")
    assert app is not None, "DecloudInfer is not on OTB_APPLICATION_PATH (source env.sh after ./dev.sh setup)"
    kinds = {otb.ParameterType_InputImage: False, otb.ParameterType_InputImageList: True}
    images = {k: kinds[app.GetParameterType(k)] for k in app.GetParametersKeys() if app.GetParameterType(k) in kinds}
    images.pop("mask")  # the cloud mask (card role cloud_t), declared apart: it has other uses too
    assert images == {key: candidates for key, candidates in ROLES.values()}
    assert ROLE_KEYS["s2_20m_tm1"] == "s2r20.tm1" and ROLE_KEYS["s2_20m_tp1"] == "s2r20.tp1"
    assert {"s2_20m_tm1", "s2_20m_tp1"} <= CANDIDATE_ROLES
    assert ROLE_KEYS["s2_d"] == "s2.dates" and ROLE_KEYS["s1_d"] == "s1.dates"
    assert INDEXED_ROLES <= LIST_ROLES and not INDEXED_ROLES & CANDIDATE_ROLES


def test_the_app_s_parameters_are_the_table_file_s():
    """Every row of roles.def, as decloud.infer parsed it, is the app's parameter of that kind and name; cloud_t's
    -mask is declared apart (another name), the date roles are string parameters."""
    otb = pytest.importorskip("otbApplication")
    app = otb.Registry.CreateApplication("DecloudInfer")
    assert app is not None, "DecloudInfer is not on OTB_APPLICATION_PATH (source env.sh after ./dev.sh setup)"
    keys = set(app.GetParametersKeys())
    for r in ROLE_TABLE:
        assert r.key in keys, r
        kind = otb.ParameterType_InputImageList if r.listed else otb.ParameterType_InputImage
        assert app.GetParameterType(r.key) == kind, r
        if r.own_parameter:
            assert app.GetParameterName(r.key) == r.description, r
    assert [r.role for r in ROLE_TABLE if not r.own_parameter] == ["cloud_t"]
    assert ROLES == {r.role: (r.key, r.listed) for r in ROLE_TABLE if r.own_parameter}
    assert INDEXED_ROLES == {r.role for r in ROLE_TABLE if r.indexed}
    dates = {k for k in keys if k.startswith("date.")}
    assert dates == {r.key for r in TIMESTAMP_TABLE} == set(DATE_KEYS.values())
    for r in TIMESTAMP_TABLE:
        assert app.GetParameterType(r.key) == otb.ParameterType_String and app.GetParameterName(r.key) == r.description


def test_the_table_s_types_and_values():
    """Other modules import these: their types and values are those of the table before it was a file."""
    assert type(ROLES) is dict and all(type(v) is tuple and len(v) == 2 for v in ROLES.values())
    assert list(ROLES)[:4] == ["s2_t", "s2_tm1", "s2_tp1", "s2_d"] and ROLES["dem"] == ("dem", False)
    assert type(INDEXED_ROLES) is set and INDEXED_ROLES == {"s2_d", "s1_d"}
    assert type(LIST_ROLES) is set and type(CANDIDATE_ROLES) is set
    assert CANDIDATE_ROLES == {"s2_tm1", "s2_tp1", "s1_t", "s1_tm1", "s1_tp1", "s2_20m_tm1", "s2_20m_tp1"}
    assert DATE_KEYS == {"s2_timestamp_t": "date.t", "s2_timestamp_tm1": "date.tm1", "s2_timestamp_tp1": "date.tp1"}


GOOD = '// a comment\n\nDECLOUD_ROLE(s2_t,  "s2.t", false, true, false, "Sentinel-2 at t (the cloudy image)")\n'


def test_a_table_line_is_parsed():
    roles, timestamps = parse_role_table(GOOD + 'DECLOUD_TIMESTAMP(s2_timestamp_t, "date.t", "Date of s2.t")\n')
    assert [(r.role, r.key, r.listed, r.own_parameter, r.indexed, r.description) for r in roles] == [
        ("s2_t", "s2.t", False, True, False, "Sentinel-2 at t (the cloudy image)")]
    assert [(r.role, r.key, r.description) for r in timestamps] == [("s2_timestamp_t", "date.t", "Date of s2.t")]


@pytest.mark.parametrize("line", [
    'DECLOUD_ROLE(s2_tm1, "s2.tm1", True, true, false, "x")',  # not C's true
    'DECLOUD_ROLE(s2_tm1, "s2.tm1", true, true, "x")',  # a field missing
    'DECLOUD_ROLE("s2_tm1", "s2.tm1", true, true, false, "x")',  # the role quoted
    'DECLOUD_ROLE(s2_tm1, "s2.tm1", true, true, false, "a \\"quoted\\" word")',  # an escape
    'DECLOUD_ROLE(s2_tm1, "s2.tm1", true, true, false, "x"),',  # a trailing comma
    'DECLOUD_ROLE(s2_tm1, "s2.tm1", true, true, false, "x") DECLOUD_ROLE(s1_t, "s1.t", true, true, false, "y")',
    '/* a C comment */',
    '// a comment spliced to the next line by C \\',
    'DECLOUD_ROLE(s2_d, "s2.dates", false, true, true, "x")',  # indexed but not a list
    'DECLOUD_ROLE(s2_t, "s2.t2", false, true, false, "x")',  # s2_t named twice
    'DECLOUD_TIMESTAMP(s2_timestamp_t, "s2.t", "x")',  # -s2.t named twice
])
def test_a_malformed_table_line_is_refused(line):
    with pytest.raises(ValueError, match=r"^roles\.def:4: .*" + line[:12].replace("(", r"\(")):
        parse_role_table(GOOD + line + "\n")
    parse_role_table(GOOD)


def test_card_roles_of_a_synthesis_s_dates():
    assert table_role("s2_d0") == ("s2_d", 0) and table_role("s1_d5") == ("s1_d", 5)
    assert table_role("s2_d12") == ("s2_d", 12)
    assert table_role("s2_d05") == ("s2_d05", None) and table_role("s2_dem") == ("s2_dem", None)
    assert table_role("s2_tm1") == ("s2_tm1", None) and table_role("dem") == ("dem", None)


def test_decloud_infer_has_an_option_per_role(capsys):
    with pytest.raises(SystemExit):
        cli_main(["infer", "--help"])
    text = capsys.readouterr().out
    for role in ROLES:
        assert role_option(role) + " " in text, role
    assert "--s2-dates " in text and "--s1-dates " in text


def test_a_card_giving_one_role_to_two_inputs_is_refused(tmp_path):
    """A card input's role is its "role" (else its key, the SavedModel's input name): two inputs cannot share one."""
    import json  # noqa: PLC0415

    from conftest import run_app  # noqa: PLC0415

    s1 = {"sensor": "S1", "bands": ["VV", "VH"], "scale": 1, "nodata": 0}
    card = {"format": 1, "name": "m", "network": "n", "spatial_multiple": 1,
            "inputs": {"s1_t": s1, "s1_target": {**s1, "role": "s1_t"}},
            "outputs": {"s2_target": {"sensor": "S2", "bands": ["B2", "B3", "B4", "B8"], "scale": 1}}}
    (tmp_path / "card.json").write_text(json.dumps(card))
    run = run_app("DecloudInfer", {"model": tmp_path, "s1.t": tmp_path / "none.tif", "out": tmp_path / "out.tif"})
    assert run.returncode != 0 and not (tmp_path / "out.tif").exists()
    assert "inputs 's1_t' and 's1_target' both have role 's1_t'" in run.fatal_lines()[0], run.output
