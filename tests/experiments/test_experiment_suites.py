"""The suites' plans: which runs, in which order, with which flags."""

import collections

import pytest

from csam_tf.experiments import suites


def test_main_suite_plan():
  runs = suites.suite_runs("main_v2")
  count = collections.Counter((r.method, r.variant, r.seed) for r in runs)
  for seed in (0, 1, 2):
    assert count[("dense", "default", seed)] == 1
    for method in ("csam", "magnitude"):  # defaults and global allocation
      assert count[(method, "default", seed)] == 3
      assert count[(method, "global", seed)] == 3
  # the pre-issue-14 default: one seed, every sparsity
  assert count[("csam", "v1_frozen_bn", 0)] == 3
  assert count[("csam", "v1_frozen_bn", 1)] == 0
  for method in suites.OTHER_METHODS:  # one seed, 50% and 90%
    assert sorted(r.sparsity for r in runs if r.method == method) == [0.5,
                                                                      0.9]
    assert {r.seed for r in runs if r.method == method} == {0}
  assert len(runs) == 3 + 1 + 18 + 8 + 3 + 18
  by_name = {r.name: r for r in runs}
  assert "--search_bn=frozen" in by_name[
      "csam-v1_frozen_bn/sp70/seed0"].train_flags()
  assert {"--binarize=global", "--mask_lr=0.01", "--ratio_clip=10.0"} <= set(
      by_name["csam-global/sp90/seed2"].train_flags())
  assert "--binarize=global" in by_name[
      "magnitude-global/sp50/seed1"].train_flags()
  assert [r.name for r in suites.suite_runs("main_v2", ["magnitude-global"],
                                            [0.9], [1])] == [
      "dense/seed1", "magnitude-global/sp90/seed1"]
  assert len({r.name for r in runs}) == len(runs)
  position = {r.name: i for i, r in enumerate(runs)}
  for run in runs:  # every dense model is trained before it is shared
    if run.pretrain_from:
      assert position[run.pretrain_from] < position[run.name]


def test_methods_map_to_train_flags():
  by_name = {r.name: r for r in suites.suite_runs("main_v2")}
  assert by_name["dense/seed1"].train_flags() == [
      "--seed=1", "--stages=pretrain,certify", "--cert_models=dense",
      "--pretrain_objective=ce"]
  assert by_name["magnitude/sp70/seed2"].train_flags() == [
      "--seed=2", "--stages=finetune,certify",
      "--finetune_pruning=polynomial_decay", "--finetune_objective=ce",
      "--cert_models=pruned", "--sparsity=0.7"]
  assert by_name["prune_then_sam/sp90/seed0"].train_flags() == [
      "--seed=0", "--stages=mask,finetune,certify", "--mask_method=magnitude",
      "--finetune_sam_rho=0.05", "--finetune_objective=ce",
      "--cert_models=pruned", "--sparsity=0.9"]
  assert by_name["sam_then_prune/sp50/seed0"].pretrain_from == (
      "sam_pretrain/seed0")
  assert "--pretrain_sam_rho=0.05" in by_name[
      "sam_pretrain/seed0"].train_flags()
  assert by_name["score_ce/sp50/seed0"].pretrain_from == "dense/seed0"
  # every row names its objective: a change of the command's default
  # changes none of them
  for run in by_name.values():
    flags = run.train_flags()
    if "pretrain" in run.stages:
      assert "--pretrain_objective=ce" in flags, run.name
    if "finetune" in run.stages:
      assert "--finetune_objective=ce" in flags, run.name


def test_v3_rows_name_their_objectives():
  by_name = {r.name: r for r in suites.suite_runs("main")}
  assert "--finetune_objective=ce" in by_name[
      "magnitude/sp90/seed0"].train_flags()
  assert "--pretrain_objective=ce" in by_name["dense/seed0"].train_flags()
  assert "--pretrain_objective=robust" in by_name[
      "dense_robust/seed0"].train_flags()
  for row in ("csam-full", "magnitude-full", "csam-global_robust",
              "magnitude-global_robust"):
    flags = by_name[f"{row}/sp90/seed0"].train_flags()
    assert "--finetune_objective=robust" in flags, row
    assert "--finetune_objective=ce" not in flags, row


def test_the_commands_defaults_are_the_shipped_rows():
  """`python -m csam_tf.train` with no flags runs the validated pipeline:
  dense_robust-shipped's pre-training, then csam-shipped's search and
  fine-tuning (the global allocation as "auto" resolves it for single
  weights)."""
  # pylint: disable=import-outside-toplevel,unused-import
  from absl import flags
  from csam_tf.pipeline import pipeline_flags  # noqa: F401 (the flags)
  from trainers.mask_search_config import allocation
  defaults = {name: flags.FLAGS[name].default for name in flags.FLAGS}
  by_name = {r.name: r for r in suites.suite_runs("main")}
  shipped = {}
  for run in (by_name["dense_robust-shipped/seed0"],
              by_name["csam-shipped/sp90/seed0"]):
    shipped.update(run.flags)
  for name in ("stages", "cert_models"):   # what the suite splits per run
    shipped.pop(name, None)
  assert shipped.pop("binarize") == allocation(
      defaults.pop("binarize"), defaults["granularity"]) == "global"
  assert shipped and {k: defaults[k] for k in shipped} == {
      k: (type(defaults[k])(v) if isinstance(defaults[k], float) else v)
      for k, v in shipped.items()}


def test_extra_families_for_dense_and_the_headline_pair_at_90():
  runs = suites.suite_runs("main_v2")
  extra = {r.name for r in runs if any(
      bound == "ccert" for *_, bound in r.extra_certificates)}
  assert extra == {"dense/seed0", "dense/seed1", "dense/seed2",
                   "csam/sp90/seed0", "csam/sp90/seed1", "csam/sp90/seed2",
                   "magnitude/sp90/seed0", "magnitude/sp90/seed1",
                   "magnitude/sp90/seed2"}
  csam = next(r for r in runs if r.name == "csam/sp90/seed0")
  assert csam.extra_certificates == (
      ("pruned", ("composite",), "L1", "ccert"),
      ("pruned", ("brightness", "rotation"), "L2", "ccert"),
      ("pruned", ("composite",), "L2", "binomial"))


def test_binomial_companion_for_the_headline_rows_only():
  runs = suites.suite_runs("main_v2")
  binomial = {r.name for r in runs if any(
      bound == "binomial" for *_, bound in r.extra_certificates)}
  assert binomial == {r.name for r in runs
                      if r.method in ("dense", "csam", "magnitude") and
                      r.variant in ("default", "global")}
  assert len(binomial) == 3 + 2 * 2 * 3 * 3
  # 1 - 0.1^(1/n) < 1e-3 from n = 2,302 on, not at 2,301
  assert suites.binomial_samples(1e-3, 0.9) == 2302
  assert 1 - 0.1 ** (1 / 2302) < 1e-3 < 1 - 0.1 ** (1 / 2301)


def test_selection_brings_the_dense_model_along():
  names = [r.name for r in suites.suite_runs("main_v2", ["sam_then_prune"],
                                             [0.9], [0])]
  assert names == ["sam_pretrain/seed0", "sam_then_prune/sp90/seed0"]
  names = [r.name for r in suites.suite_runs("main_v2", ["csam"], [], [1])]
  assert names == ["dense/seed1", "csam/sp50/seed1", "csam/sp70/seed1",
                   "csam/sp90/seed1"]


def test_ablation_suite():
  runs = suites.suite_runs("ablation")
  assert runs[0].name == "dense/seed0"
  variants = {r.variant: r for r in runs[1:]}
  assert set(variants) == set(suites.ABLATIONS)
  assert variants["default"].name == "csam/sp90/seed0"  # shared with main
  assert variants["no_stab"].name == "csam-no_stab/sp90/seed0"
  assert "--lambda_stab=0.0" in variants["no_stab"].train_flags()
  assert "--consist=mse" in variants["consist_mse"].train_flags()
  assert "--mu=0.3" in variants["mu0.3"].train_flags()
  assert "--search_bn=batch_affine" in variants[
      "learned_bn_affine"].train_flags()
  assert {r.sparsity for r in runs[1:]} == {0.9}


def test_structured_suite():
  runs = suites.suite_runs("structured")
  assert [r.name for r in runs] == [
      "dense/seed0", "csam_channel/sp50/seed0", "l1_filter/sp50/seed0",
      "group_norm/sp50/seed0"]
  for run in runs[1:]:
    flags = run.train_flags()
    assert "--granularity=channel" in flags
    assert "--stages=mask,finetune,export,certify" in flags
  assert "--mask_method=csam" in runs[1].train_flags()
  assert "--mask_method=group_norm" in runs[3].train_flags()


def test_vit_suite_prunes_weights_at_70_and_heads_at_50_and_exports():
  runs = suites.suite_runs("vit")
  assert [r.name for r in runs] == [
      "dense/seed0", "csam/sp70/seed0", "magnitude/sp70/seed0",
      "csam_channel/sp50/seed0", "group_norm/sp50/seed0",
      "taylor/sp50/seed0", "csam-robust/sp70/seed0",
      "magnitude-robust/sp70/seed0"]
  assert "--stages=mask,finetune,export,certify" in runs[1].train_flags()
  assert "--stages=finetune,export,certify" in runs[2].train_flags()
  for run in runs[3:6]:
    assert "--granularity=channel" in run.train_flags()
    assert "--stages=mask,finetune,export,certify" in run.train_flags()
  assert "--mask_method=taylor" in runs[5].train_flags()
  # v3: v2's weight rows again, fine-tuned as the shipped pipeline does
  for plain, robust in ((runs[1], runs[6]), (runs[2], runs[7])):
    assert set(robust.train_flags()) - set(plain.train_flags()) == {
        "--finetune_objective=robust", "--robust_lambda=5.0",
        "--robust_views=1", "--finetune_epochs=4"}
  assert all(r.extra_certificates == () for r in runs)
  assert suites.selection_keys("vit") == (
      "dense", "csam", "magnitude", "csam_channel", "group_norm", "taylor",
      "csam-robust", "magnitude-robust")


def test_unknown_suite():
  with pytest.raises(ValueError, match="main, main_v2, ablation, structured"):
    suites.suite_runs("everything")


def test_search_suite_certifies_validation_images_only():
  runs = suites.suite_runs("search")
  assert len(runs) == 1 + 2 * (len(suites.SEARCH_BASELINES) +
                               len(suites.SEARCH_VARIANTS))
  for run in runs:
    assert "--cert_split=validation" in run.train_flags(), run.name
    assert run.extra_certificates == ()
  names = {r.name for r in runs}
  assert {"dense/seed0", "magnitude/sp70/seed0",
          "magnitude-magnitude_global/sp90/seed0",
          "csam-v1_frozen_bn/sp90/seed0", "csam-batch_bn/sp70/seed0"} <= names
  picked = [r.name for r in suites.suite_runs("search", ["lr1e-2"], [0.9])]
  assert picked == ["dense/seed0", "csam-lr1e-2/sp90/seed0"]


def test_v3_main_suite_plan():
  runs = suites.suite_runs("main")
  by_name = {r.name: r for r in runs}
  assert len(runs) == 3 * (3 + 4 * 7)
  for seed in (0, 1, 2):
    assert by_name[f"dense_robust/seed{seed}"].train_flags() == [
        f"--seed={seed}", "--stages=pretrain,certify", "--cert_models=dense",
        "--pretrain_objective=robust",
        *[f"--{k}={v}" for k, v in suites.ROBUST_SETTINGS.items()]]
  # tfmot as users run it: v2's row (layer-wise, CE), whose records v3 reuses
  assert by_name["magnitude/sp90/seed1"].train_flags() == suites.suite_runs(
      "main_v2", ["magnitude"], [0.9], [1])[1].train_flags()
  full = by_name["csam-full/sp98/seed2"]
  assert full.pretrain_from == "dense_robust/seed2"
  assert {"--finetune_objective=robust", "--binarize=global",
          "--mask_lr=0.01", "--robust_lambda=10.0",
          "--finetune_epochs=4"} <= set(full.train_flags())
  # tfmot as users run it keeps the flagfile's fine-tuning budget
  assert not any(f.startswith(("--finetune_epochs", "--robust")) for f in
                 by_name["magnitude/sp95/seed0"].train_flags())
  assert by_name["csam-global_robust/sp95/seed0"].pretrain_from == (
      "dense/seed0")
  assert by_name["magnitude-full/sp70/seed1"].pretrain_from == (
      "dense_robust/seed1")
  # the same objective on both masks of a pair, only the masks differ
  for sparsity in (95, 98):
    csam, magnitude = (set(by_name[f"{label}/sp{sparsity}/seed0"]
                           .train_flags())
                       for label in ("csam-full", "magnitude-full"))
    assert {f for f in csam ^ magnitude if "robust" in f} == set()
  for run in runs:  # every row with its rigorous companion
    assert run.extra_certificates[-1][1:] == (("composite",), "L2",
                                              "binomial")
  position = {r.name: i for i, r in enumerate(runs)}
  assert all(position[r.pretrain_from] < position[r.name]
             for r in runs if r.pretrain_from)
  assert [r.name for r in suites.suite_runs("main", ["csam-full"], [0.95],
                                            [1])] == [
      "dense_robust/seed1", "csam-full/sp95/seed1"]
  # the shipped pipeline: its own dense model (robust pre-training at
  # lambda 5, one transformed view), the same settings in fine-tuning
  shipped = by_name["csam-shipped/sp90/seed2"]
  assert shipped.pretrain_from == "dense_robust-shipped/seed2"
  assert by_name["dense_robust-shipped/seed2"].train_flags() == [
      "--seed=2", "--stages=pretrain,certify", "--cert_models=dense",
      "--pretrain_objective=robust", "--robust_lambda=5.0",
      "--robust_views=1"]
  assert {"--finetune_objective=robust", "--robust_lambda=5.0",
          "--robust_views=1", "--finetune_epochs=4", "--binarize=global",
          "--mask_lr=0.01"} <= set(shipped.train_flags())
  csam, magnitude = (set(by_name[f"{label}/sp98/seed0"].train_flags())
                     for label in ("csam-shipped", "magnitude-shipped"))
  assert {f for f in csam ^ magnitude if "robust" in f} == set()
  assert [r.name for r in suites.suite_runs("main", ["magnitude-shipped"],
                                            [0.7], [0])] == [
      "dense_robust-shipped/seed0", "magnitude-shipped/sp70/seed0"]


def test_finetune_epochs_overrides_name_the_rows_that_set_their_own():
  assert suites.finetune_epochs_overrides(suites.suite_runs("main")) == {
      4: ["csam-shipped", "magnitude-shipped", "magnitude-global_robust",
          "csam-global_robust", "magnitude-full", "csam-full"]}
  assert suites.finetune_epochs_overrides(
      suites.suite_runs("objective")) == {4: ["magnitude-robust_l10_ft4",
                                              "magnitude-robust_l5_ft4",
                                              "magnitude-full_l5_m1_ft4"]}
  assert suites.finetune_epochs_overrides(suites.suite_runs("main_v2")) == {}


def test_objective_suite_changes_the_fine_tuning_objective_only():
  runs = suites.suite_runs("objective")
  assert [r.name for r in runs[:4]] == [
      "dense/seed0", "dense_robust-l5_m1/seed0",
      "magnitude-magnitude_global/sp90/seed0",
      "magnitude-robust_l2/sp90/seed0"]
  # a dense model of its own: robust pre-training at lambda 5, one
  # transformed view
  assert {"--stages=pretrain,certify", "--pretrain_objective=robust",
          "--robust_lambda=5.0", "--robust_views=1",
          "--cert_split=validation"} <= set(runs[1].train_flags())
  assert runs[1].extra_certificates == (("dense", ("composite",), "L2",
                                         "binomial"),)
  # 90% first (its 13 variants), then 70%: lambda 5 from the CE model and
  # the full pipeline at lambda 5 from the lambda-5 dense model (one
  # transformed view in both stages)
  assert [(r.name, r.pretrain_from) for r in runs[13:]] == [
      ("magnitude-robust_l5_ft4/sp90/seed0", "dense/seed0"),
      ("magnitude-full_l5_m1_ft4/sp90/seed0", "dense_robust-l5_m1/seed0"),
      ("magnitude-robust_l5_ft4/sp70/seed0", "dense/seed0"),
      ("magnitude-full_l5_m1_ft4/sp70/seed0", "dense_robust-l5_m1/seed0")]
  assert runs[-1].flags["robust_views"] == 1
  assert runs[-1].flags["robust_lambda"] == 5.0
  # --methods names the dense model too, and brings it along
  assert [r.name for r in suites.suite_runs(
      "objective", methods=["full_l5_m1_ft4"], sparsities=[0.7])] == [
          "dense_robust-l5_m1/seed0", "magnitude-full_l5_m1_ft4/sp70/seed0"]
  assert "dense_robust-l5_m1" in suites.selection_keys("objective")
  base = set(runs[2].train_flags()) - {"--sparsity=0.9"}
  for run in runs[2:]:
    assert {"--binarize=global", "--cert_split=validation",
            f"--sparsity={run.sparsity}"} <= set(run.train_flags())
    assert all(f.startswith(("--robust", "--finetune_objective",
                             "--finetune_epochs", "--sparsity="))
               for f in set(run.train_flags()) - base)
    assert run.extra_certificates == (("pruned", ("composite",), "L2",
                                       "binomial"),)
    assert run.cert_split("test") == "validation"  # the binomial one too
  assert suites.suite_runs("main")[0].cert_split("test") == "test"
