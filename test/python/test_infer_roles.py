"""DecloudInfer's role table (Roles[] in app/otbDecloudInfer.cxx) and decloud.infer.ROLES agree: one parameter per
role, a candidate list exactly for the roles that take candidates, no image parameter of the app left out; decloud
infer has one option per role; the dates of a synthesis (card roles s2_d0 ... fed by -s2.dates) are one list role
each. (That each role feeds its card role is what test_original_families and test_synthesis_model run end to
end.)"""

from __future__ import annotations

import pytest
from decloud.cli import main as cli_main
from decloud.infer import CANDIDATE_ROLES, INDEXED_ROLES, LIST_ROLES, ROLE_KEYS, ROLES, role_option, table_role


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
