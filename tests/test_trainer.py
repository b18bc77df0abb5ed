"""The trainer: weights reach the loss, every parameter trains, arguments come from params.yaml alone."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from scpo import config
from scpo.embedded_rm import embedded_reward_model, embedded_tokenizer
from scpo.paths import ROOT
from scpo.trainer import (WeightedPreferenceCollator, WeightedRewardTrainer, preference_dataset, reward_config,
                          train_reward_model)

PARAMS = config.read_params(ROOT / "params.yaml")
RM = config.load_section(PARAMS, "global_rm")
TRAINING = config.load_section(PARAMS, "training")


@pytest.fixture
def tiny():
    tokenizer = embedded_tokenizer()
    return embedded_reward_model(RM, len(tokenizer), 32, seed=0), tokenizer


def pairs_dataset(tokenizer, weight, n=8):
    prompts = ["what food"] * n
    return preference_dataset(tokenizer, prompts, ["carefully thorough detailed"] * n,
                              ["boldly short"] * n, weight if weight is not None else np.ones(n), 32)


def short_training(tmp_path, **overrides):
    values = {"max_steps": 3, "per_device_train_batch_size": 4, "learning_rate": 1e-2, "logging_steps": 1} | overrides
    return reward_config(dataclasses.replace(TRAINING, **values), tmp_path)


def test_collator_keeps_weights_and_pads_dynamically(tiny):
    _, tokenizer = tiny
    collate = WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id)
    batch = collate([{"chosen_ids": [2, 5, 6, 3], "rejected_ids": [2, 7, 3], "weight": 0.25},
                     {"chosen_ids": [2, 8, 3], "rejected_ids": [2, 9, 9, 9, 3], "weight": 1.0}])
    assert batch["input_ids"].shape == (4, 5)  # chosen..., rejected...; padded to the batch's longest
    assert batch["attention_mask"].sum(1).tolist() == [4, 3, 3, 5]
    assert torch.equal(batch["weight"], torch.tensor([0.25, 1.0]))


def test_zero_weights_give_zero_loss(tiny, tmp_path):
    model, tokenizer = tiny
    trainer = WeightedRewardTrainer(model=model, args=short_training(tmp_path), processing_class=tokenizer,
                                    train_dataset=pairs_dataset(tokenizer, np.zeros(8)),
                                    data_collator=WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id))
    batch = next(iter(trainer.get_train_dataloader()))
    assert "weight" in batch
    assert trainer.compute_loss(trainer.model, batch).item() == 0.0


def test_weights_scale_the_loss_by_batch_size_not_weight_sum(tiny, tmp_path):
    model, tokenizer = tiny
    model.eval()  # no dropout, so the two evaluations see identical rewards
    trainer = WeightedRewardTrainer(model=model, args=short_training(tmp_path, disable_dropout=True),
                                    processing_class=tokenizer, train_dataset=pairs_dataset(tokenizer, None),
                                    data_collator=WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id))
    batch = next(iter(trainer.get_train_dataloader()))
    full = trainer.compute_loss(trainer.model, dict(batch)).item()
    half = trainer.compute_loss(trainer.model, dict(batch, weight=torch.full_like(batch["weight"], 0.5))).item()
    assert half == pytest.approx(full / 2, rel=1e-6)


def test_the_trainer_a_normalised_arm_gets_divides_by_the_weights(tiny, tmp_path):
    """`reward_trainer(..., loss_normalisation="weights")` (the scpo_normalized arm): halving every weight leaves
    the loss as it is."""
    from scpo.trainer import reward_trainer

    model, tokenizer = tiny
    model.eval()
    trainer = reward_trainer(model, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path, disable_dropout=True),
                             loss_normalisation="weights")
    batch = next(iter(trainer.get_train_dataloader()))
    full = trainer.compute_loss(trainer.model, dict(batch)).item()
    half = trainer.compute_loss(trainer.model, dict(batch, weight=torch.full_like(batch["weight"], 0.5))).item()
    assert trainer.loss_normalisation == "weights" and half == pytest.approx(full, rel=1e-6)


def test_every_trainable_parameter_changes(tiny, tmp_path):
    model, tokenizer = tiny
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    train_reward_model(model, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path))
    unchanged = [name for name, p in model.named_parameters()
                 if name in before and torch.equal(before[name], p.detach())
                 and "position_embeddings" not in name and "token_type_embeddings" not in name
                 and "word_embeddings" not in name]
    assert not unchanged, unchanged


def margin(model, tokenizer, chosen, rejected):
    """s(chosen) - s(rejected) on one prompt, scored by the package's one scoring path (eval mode)."""
    from scpo.scoring import score_texts

    model.eval()
    chosen_score, rejected_score = score_texts(model, tokenizer, ["what food"] * 2, [chosen, rejected], 32, 2)
    return float(chosen_score - rejected_score)


@pytest.mark.parametrize("chosen,rejected", [("carefully thorough detailed", "boldly short"),
                                             ("boldly short", "carefully thorough detailed")])
def test_training_moves_the_margin_towards_the_chosen_response(tiny, tmp_path, chosen, rejected):
    # The direction of learning, against an oracle outside the trainer: after a few steps on pairs that
    # prefer `chosen`, the model scores `chosen` above `rejected` by more than before, whichever text is
    # chosen (a trainer with chosen and rejected swapped in its loss would fail both cases).
    model, tokenizer = tiny
    before = margin(model, tokenizer, chosen, rejected)
    n = 8
    dataset = preference_dataset(tokenizer, ["what food"] * n, [chosen] * n, [rejected] * n, np.ones(n), 32)
    train_reward_model(model, tokenizer, dataset, short_training(tmp_path, max_steps=6, disable_dropout=True))
    after = margin(model, tokenizer, chosen, rejected)
    assert after > before + 0.5 and after > 0, (before, after)


def test_reward_config_takes_every_value_from_params(tmp_path):
    args = reward_config(TRAINING, tmp_path)
    for name, value in TRAINING.trainer_kwargs().items():
        assert getattr(args, name) == value, name
    assert args.max_length is None  # truncation happens in encode; TRL would drop long pairs
    assert args.report_to == [] or args.report_to == "none" or args.report_to == ["none"]


def test_empty_training_set_is_an_error(tiny, tmp_path):
    model, tokenizer = tiny
    empty = preference_dataset(tokenizer, [], [], [], [], 32)
    with pytest.raises(ValueError, match="no training pairs"):
        train_reward_model(model, tokenizer, empty, short_training(tmp_path))


class Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_from_its_checkpoint_and_ends_where_an_uninterrupted_one_does(tiny, tmp_path):
    from transformers import TrainerCallback

    class StopAtStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 7:
                raise Interrupt

    _, tokenizer = tiny
    dataset = pairs_dataset(tokenizer, np.linspace(0.2, 1.0, 8))

    def fresh():
        return embedded_reward_model(RM, len(tokenizer), 32, seed=0)

    args = short_training(tmp_path / "straight", max_steps=10, save_steps=5, disable_dropout=True)
    straight = train_reward_model(fresh(), tokenizer, dataset, args)

    args = short_training(tmp_path / "interrupted", max_steps=10, save_steps=5, disable_dropout=True)
    trainer = WeightedRewardTrainer(model=fresh(), args=args, train_dataset=dataset, processing_class=tokenizer,
                                    data_collator=WeightedPreferenceCollator(pad_token_id=tokenizer.pad_token_id),
                                    callbacks=[StopAtStep()])
    with pytest.raises(Interrupt):
        trainer.train()
    assert (tmp_path / "interrupted" / "checkpoint-5").is_dir()

    class CountSteps(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            CountSteps.steps += 1

    resumed = train_reward_model(fresh(), tokenizer, dataset, args, callbacks=[CountSteps()])
    assert resumed.state.global_step == 10 and CountSteps.steps == 5  # steps 6..10: resumed, not restarted
    assert straight.resumed_from_step is None and resumed.resumed_from_step == 5
    for (name, a), (_, b) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_run_fingerprint_changes_with_data_and_arguments(tiny, tmp_path):
    from scpo.trainer import run_fingerprint

    _, tokenizer = tiny
    base = run_fingerprint(short_training(tmp_path / "a"), pairs_dataset(tokenizer, None), "m")
    assert base == run_fingerprint(short_training(tmp_path / "b"), pairs_dataset(tokenizer, None), "m")
    assert base != run_fingerprint(short_training(tmp_path / "a", learning_rate=0.5), pairs_dataset(tokenizer, None), "m")
    assert base != run_fingerprint(short_training(tmp_path / "a"), pairs_dataset(tokenizer, np.full(8, 0.5)), "m")
    assert base != run_fingerprint(short_training(tmp_path / "a"), pairs_dataset(tokenizer, None), "other")
    assert base != run_fingerprint(short_training(tmp_path / "a"), pairs_dataset(tokenizer, None), "m",
                                   loss_normalisation="weights")  # scpo_normalized never resumes from scpo


def test_resume_skips_a_checkpoint_cut_off_by_a_kill(tmp_path):
    from scpo.trainer import last_complete_checkpoint

    for step, state in ((5, '{"global_step": 5}'), (10, '{"global_st'), (15, None)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"weights")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-5"]  # the cut-off ones are removed
    assert last_complete_checkpoint(tmp_path / "none-yet") is None


def test_length_grouped_order_depends_on_seed_and_epoch_only():
    from scpo.trainer import SeededLengthGroupedSampler

    lengths = list(np.random.default_rng(0).integers(5, 60, size=400))
    sampler = SeededLengthGroupedSampler(8, lengths, seed=3)
    first = list(sampler)
    torch.manual_seed(123)  # the global RNG plays no part
    assert list(SeededLengthGroupedSampler(8, lengths, seed=3)) == first
    assert sorted(first) == list(range(400))  # every pair once per epoch
    sampler.set_epoch(1)
    assert list(sampler) != first

    def padding_efficiency(order):
        batches = [np.asarray(lengths)[order[i:i + 8]] for i in range(0, len(order), 8)]
        return sum(b.sum() for b in batches) / sum(b.max() * len(b) for b in batches)

    random_order = list(np.random.default_rng(0).permutation(400))
    assert padding_efficiency(first) > 0.9 > padding_efficiency(random_order)


def test_the_trainer_samples_length_grouped_batches(tiny, tmp_path):
    from scpo.trainer import SeededLengthGroupedSampler, reward_trainer

    model, tokenizer = tiny
    trainer = reward_trainer(model, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path))
    assert isinstance(trainer._get_train_sampler(), SeededLengthGroupedSampler)
    random = reward_trainer(model, tokenizer, pairs_dataset(tokenizer, None),
                            short_training(tmp_path, train_sampling_strategy="random"))
    assert not isinstance(random._get_train_sampler(), SeededLengthGroupedSampler)


def test_the_sampler_holds_the_lengths_as_a_plain_list(tiny, tmp_path):
    from scpo.trainer import reward_trainer

    model, tokenizer = tiny
    data = pairs_dataset(tokenizer, None)
    sampler = reward_trainer(model, tokenizer, data, short_training(tmp_path))._get_train_sampler()
    assert type(sampler.lengths) is list and sampler.lengths == list(data["length"])


def test_the_flos_count_is_transformers_own_with_the_parameters_counted_once(tiny, tmp_path):
    from transformers import Trainer

    from scpo.trainer import reward_trainer

    model, tokenizer = tiny
    trainer = reward_trainer(model, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path))
    for shape in ((16, 7), (8, 30), (2, 1)):
        inputs = {"input_ids": torch.ones(shape, dtype=torch.long), "attention_mask": torch.ones(shape)}
        assert trainer.floating_point_ops(inputs) == Trainer.floating_point_ops(trainer, inputs) > 0


def test_lora_trains_adapters_and_the_head_only_and_saves_the_adapter(tiny, tmp_path):
    from scpo.trainer import save_model

    model, tokenizer = tiny
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    lora = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"}
    run = train_reward_model(model, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path / "run"),
                             lora=lora)
    trainable = {name for name, p in run.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name or "classifier" in name for name in trainable)
    assert any("classifier" in name for name in trainable)  # the reward head is trained whole
    for name, p in run.model.named_parameters():
        base = name.replace("base_model.model.", "").replace(".base_layer", "")
        if not p.requires_grad and base in before:
            assert torch.equal(p, before[base]), f"frozen {name} changed"
    folder = save_model(run, tmp_path / "model")
    assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()


def test_lora_settings_from_params():
    values = TRAINING.trainer_kwargs()
    assert not any(k.startswith("lora_") for k in values)
    assert TRAINING.lora() is None  # lora_r: 0 is full fine-tuning
    lora = dataclasses.replace(TRAINING, lora_r=16, lora_target_modules="q_proj, v_proj").lora()
    assert lora["r"] == 16 and lora["target_modules"] == ["q_proj", "v_proj"]


def test_a_launched_run_splits_the_batch_across_processes():
    from scpo.trainer import process_batch_size

    assert process_batch_size(8, 1) == 8 and process_batch_size(8, 2) == 4 and process_batch_size(8, 8) == 1
    with pytest.raises(ValueError, match="per_device_train_batch_size = 8 is not divisible by the 3 processes"):
        process_batch_size(8, 3)


# ------------------------------------------------------------------------------------------ precision, card, release

@pytest.mark.parametrize("lora_r,bf16,dtype", [(16, True, "bfloat16"), (16, False, "float32"), (0, True, "float32"),
                                               (0, False, "float32")])
def test_only_a_lora_run_in_bf16_loads_its_base_in_bf16(lora_r, bf16, dtype):
    from scpo.trainer import base_dtype

    assert base_dtype(dataclasses.replace(TRAINING, lora_r=lora_r, bf16=bf16)) == dtype


def test_model_card_layout_facts_sorted_arguments_and_metrics(tmp_path):
    import json

    from scpo.config import TrainingConfig
    from scpo.trainer import model_card

    args = short_training(tmp_path)
    card = model_card("Chile · scpo", {"country": "Chile", "arm": "scpo"}, args, {"n_pairs": 4, "accuracy_all": 0.75})
    head, arguments, metrics = card.split("```json\n")
    assert head == ("# Chile · scpo\n\nTrained with scpo (Steerable Cultural Preference Optimization).\n\n"
                    "- **country**: Chile\n- **arm**: scpo\n\n## Training arguments\n\n")
    assert metrics == '{\n "accuracy_all": 0.75,\n "n_pairs": 4\n}\n```\n'  # keys sorted, indent 1, final newline
    block, between = arguments.split("\n```\n")
    assert between == "\n## Held-out pairwise accuracy\n\n"
    lines = block.splitlines()
    keys = [line.split('"')[1] for line in lines[1:-1]]
    assert lines[0] == "{" and lines[-1] == "}" and all(line.startswith(' "') for line in lines[1:-1])
    assert keys == sorted(keys) and "output_dir" not in keys
    # exactly the params.yaml training fields that are TrainingArguments, with the values the run used
    expected = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingConfig) if hasattr(args, f.name)}
    assert json.loads(block) == expected and expected["learning_rate"] == 1e-2 and expected["max_steps"] == 3


def test_release_drops_model_and_optimiser_but_keeps_arguments_state_and_log(tiny, tmp_path):
    from scpo.trainer import release, reward_trainer

    model, tokenizer = tiny
    trainer = reward_trainer(model, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path))
    trainer.create_optimizer_and_scheduler(num_training_steps=3)
    assert trainer.optimizer is not None and trainer.lr_scheduler is not None
    release(trainer)
    assert trainer.model is None and trainer.model_wrapped is None
    assert trainer.optimizer is None and trainer.lr_scheduler is None
    assert trainer.args.max_steps == 3 and trainer.state.global_step == 0


def test_release_frees_the_model_and_optimiser_once_the_caller_drops_its_own_reference(tiny, tmp_path):
    import copy
    import gc
    import weakref

    from scpo.trainer import release, reward_trainer

    model, tokenizer = tiny
    trained = copy.deepcopy(model)
    trainer = reward_trainer(trained, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path))
    trainer.train()
    model_alive, optimizer_alive = weakref.ref(trained), weakref.ref(trainer.optimizer)
    del trained
    release(trainer)
    gc.collect()
    assert model_alive() is None, "something still holds the trained model: scoring would load a second copy beside it"
    assert optimizer_alive() is None


# ------------------------------------------------------------------------------------------ fingerprint, upcast

class FakeArguments:
    """Stands in for RewardConfig: run_fingerprint reads `to_dict()` only (through shared_arguments)."""

    def to_dict(self):
        return {"learning_rate": 0.01, "lr_scheduler_type": Path("linear"), "output_dir": "/runs/a",
                "logging_dir": "/runs/a/logs", "run_name": "a"}


def test_run_fingerprint_is_the_hash_of_the_documented_payload():
    import hashlib

    from scpo.trainer import run_fingerprint, shared_arguments

    data = {"chosen_ids": [[2, 5, 3]], "rejected_ids": [[2, 7, 3]], "weight": [0.5]}
    assert shared_arguments(FakeArguments()) == {"learning_rate": 0.01, "lr_scheduler_type": Path("linear")}
    # the payload by hand: keys sorted, non-JSON values (a Path here) as str, where the run writes left out
    payload = ('{"args": {"learning_rate": 0.01, "lr_scheduler_type": "linear"}, '
               '"data": [[[2, 5, 3]], [[2, 7, 3]], [0.5]], "model": "tiny-rm"}')
    assert run_fingerprint(FakeArguments(), data, "tiny-rm") == hashlib.sha256(payload.encode()).hexdigest()[:16]
    with_lora = ('{"args": {"learning_rate": 0.01, "lr_scheduler_type": "linear"}, '
                 '"data": [[[2, 5, 3]], [[2, 7, 3]], [0.5]], "lora": {"r": 4}, "model": "tiny-rm"}')
    assert run_fingerprint(FakeArguments(), data, "tiny-rm", {"r": 4}) == \
        hashlib.sha256(with_lora.encode()).hexdigest()[:16]
    assert run_fingerprint(FakeArguments(), data, "tiny-rm", {}) == run_fingerprint(FakeArguments(), data, "tiny-rm")


def test_upcast_trainable_casts_what_trains_and_leaves_the_frozen_base():
    from scpo.trainer import upcast_trainable

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)).to(torch.bfloat16)
    model[0].requires_grad_(False)  # the frozen base
    model[1].weight.data = model[1].weight.data.float()  # already fp32: stays as it is
    storage = model[1].weight.data_ptr()
    upcast_trainable(model)
    assert [p.dtype for p in model.parameters()] == [torch.bfloat16, torch.bfloat16, torch.float32, torch.float32]
    assert model[1].weight.data_ptr() == storage  # not copied


# ------------------------------------------------------------------------------------------ checkpoints, saving

def test_resume_ignores_files_and_folders_that_are_not_numbered_checkpoints(tmp_path):
    from scpo.trainer import last_complete_checkpoint

    (tmp_path / "checkpoint-20").write_text("a file, not a checkpoint")
    (tmp_path / "checkpoint-best").mkdir()
    (tmp_path / "checkpoint-best" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text('{"global_step": 4}')
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-4"


class FakeTrainer:
    """What save_model uses of a Trainer: save_model(path), is_world_process_zero(), accelerator.wait_for_everyone()."""

    def __init__(self, main=True, card=True, fail=False):
        self.main, self.card, self.fail, self.saved_to, self.waited = main, card, fail, None, False
        self.accelerator = self

    def save_model(self, path):
        self.saved_to = Path(path)
        (self.saved_to / "model.safetensors").write_bytes(b"weights")
        if self.card:
            (self.saved_to / "README.md").write_text("TRL's card")
        if self.fail:
            raise OSError("disk full")

    def is_world_process_zero(self):
        return self.main

    def wait_for_everyone(self):
        self.waited = True


def test_save_model_writes_a_hidden_sibling_then_renames_it_and_drops_trl_s_card(tmp_path):
    from scpo.trainer import save_model

    folder = tmp_path / "new" / "deeper" / "model"  # parents made as needed
    trainer = FakeTrainer()
    assert save_model(trainer, folder) == folder and trainer.waited
    assert trainer.saved_to.parent == folder.parent and trainer.saved_to.name.startswith(".model.")
    assert sorted(p.name for p in folder.parent.iterdir()) == ["model"]  # no scratch folder left behind
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors"]


def test_save_model_replaces_an_earlier_model_and_needs_no_card(tmp_path):
    from scpo.trainer import save_model

    folder = tmp_path / "model"
    save_model(FakeTrainer(), folder)
    (folder / "stale.bin").write_bytes(b"old")
    save_model(FakeTrainer(card=False), folder)
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors"]


def test_save_model_leaves_no_scratch_folder_on_other_processes_or_on_failure(tmp_path):
    from scpo.trainer import save_model

    save_model(FakeTrainer(main=False), tmp_path / "model")
    assert list(tmp_path.iterdir()) == []  # only the main process writes
    with pytest.raises(OSError, match="disk full"):
        save_model(FakeTrainer(fail=True), tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ segment ids, exact loss

@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    """The bert-segments stand-in (tests/fixtures/models): its tokenizer makes segment ids; the RM in eval mode."""
    import importlib.util

    from scpo.models import load_reward_model

    spec = importlib.util.spec_from_file_location("make_models", ROOT / "tests" / "fixtures" / "models" / "make_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = module.build("bert-segments", tmp_path_factory.mktemp("segments"))
    model, tokenizer = load_reward_model(folder, device=torch.device("cpu"))
    tokenizer.eos_token = tokenizer.eos_token or tokenizer.sep_token  # TRL's trainer asks for one (STYLE.md 9)
    return model, tokenizer


def test_collator_pads_segment_ids_in_row_order_and_defaults_missing_weights():
    collate = WeightedPreferenceCollator(pad_token_id=0)
    examples = [{"chosen_ids": [2, 5, 6, 3], "rejected_ids": [2, 7, 3],
                 "chosen_token_type_ids": [0, 0, 1, 1], "rejected_token_type_ids": [0, 1, 1]},
                {"chosen_ids": [2, 8, 3], "rejected_ids": [2, 9, 9, 9, 3],
                 "chosen_token_type_ids": [0, 1, 1], "rejected_token_type_ids": [0, 0, 1, 1, 1]}]
    batch = collate(examples)
    # rows chosen 1, chosen 2, rejected 1, rejected 2, right-padded with segment 0 to the longest (5)
    assert batch["token_type_ids"].tolist() == [[0, 0, 1, 1, 0], [0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 1]]
    assert batch["weight"].tolist() == [1.0, 1.0]  # a pair without a weight counts fully
    one = collate(examples[:1])
    assert one["token_type_ids"].tolist() == [[0, 0, 1, 1], [0, 1, 1, 0]]
    multiple = WeightedPreferenceCollator(pad_token_id=0, pad_to_multiple_of=4)(examples)
    assert multiple["input_ids"].shape == (4, 8) and multiple["token_type_ids"].shape == (4, 8)
    assert multiple["token_type_ids"][3].tolist() == [0, 0, 1, 1, 1, 0, 0, 0]


def test_collator_weights_are_float32_whatever_the_default_dtype():
    collate = WeightedPreferenceCollator(pad_token_id=0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        batch = collate([{"chosen_ids": [2, 3], "rejected_ids": [2, 3], "weight": 0.25}])
    finally:
        torch.set_default_dtype(previous)
    assert batch["weight"].dtype == torch.float32 and batch["weight"].tolist() == [0.25]


def test_preference_dataset_keeps_segment_ids_truncates_and_stores_float_weights(segments):
    _, tokenizer = segments
    dataset = preference_dataset(tokenizer, ["what food"], ["a b c d e f g h"], ["h g f e d c b a"], [1], 6)
    assert dataset.column_names == ["chosen_ids", "chosen_token_type_ids", "rejected_ids", "rejected_token_type_ids",
                                    "weight", "length"]
    # the oracle: the tokenizer itself on the sequence pair, cut longest first to 6 tokens
    chosen = tokenizer("what food", "a b c d e f g h", truncation="longest_first", max_length=6)
    rejected = tokenizer("what food", "h g f e d c b a", truncation="longest_first", max_length=6)
    assert dataset[0]["chosen_ids"] == chosen["input_ids"] and len(chosen["input_ids"]) == 6
    assert dataset[0]["chosen_token_type_ids"] == chosen["token_type_ids"]
    assert dataset[0]["rejected_ids"] == rejected["input_ids"] and len(rejected["input_ids"]) == 6
    assert dataset[0]["rejected_token_type_ids"] == rejected["token_type_ids"]
    assert dataset.features["weight"].dtype == "float64" and dataset["length"] == [6]


def bt_loss_by_hand(scores, weights):
    """-(1/B) sum w log sigmoid(s+ - s-) = (1/B) sum w log(1 + exp(-(s+ - s-))), in float64."""
    return sum(w * math.log1p(math.exp(-(c - r))) for (c, r), w in zip(scores, weights)) / len(weights)


def test_compute_loss_scores_each_side_as_if_alone(segments, tmp_path):
    from scpo.trainer import reward_trainer

    model, tokenizer = segments
    texts = [("a b c d e f g h", "no"), ("yes", "b c d"), ("same answer", "same answer")]
    dataset = preference_dataset(tokenizer, ["what food"] * 3, [c for c, _ in texts], [r for _, r in texts],
                                 [0.25, 1.0, 0.5], 32)
    trainer = reward_trainer(model, tokenizer, dataset, short_training(tmp_path, disable_dropout=True))
    model.eval()

    def alone(ids, segment_ids):  # the oracle: the model on one unpadded sequence, with its segment ids
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([segment_ids])).logits.item()

    rows = [dataset[i] for i in range(3)]
    scores = [(alone(r["chosen_ids"], r["chosen_token_type_ids"]), alone(r["rejected_ids"], r["rejected_token_type_ids"]))
              for r in rows]
    batch = trainer.data_collator([{k: v for k, v in r.items() if k != "length"} for r in rows])
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
    assert loss.item() == pytest.approx(bt_loss_by_hand(scores, [0.25, 1.0, 0.5]), rel=1e-5)


class FixedRewards(torch.nn.Module):
    """A stand-in RM with fixed rewards per batch row; it records the inputs it was called with."""

    def __init__(self, rewards):
        super().__init__()
        self.rewards, self.inputs = torch.tensor(rewards).reshape(-1, 1), None

    def forward(self, **inputs):
        from types import SimpleNamespace

        self.inputs = inputs
        return SimpleNamespace(logits=self.rewards)


def test_compute_loss_splits_rows_into_chosen_and_rejected_and_logs_its_metrics(tiny, tmp_path):
    from scpo.trainer import reward_trainer

    model, tokenizer = tiny
    trainer = reward_trainer(model, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path))
    fixed = FixedRewards([1.0, 2.0, 0.5, 0.5, 0.0, 0.5])  # chosen 1, 2, 0.5; rejected 0.5, 0, 0.5 (a tie)
    ids = torch.ones(6, 3, dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": ids, "token_type_ids": ids * 0, "weight": torch.tensor([1.0, 0.5, 0.25])}
    fixed.eval()
    loss, outputs = trainer.compute_loss(fixed, dict(batch), return_outputs=True)
    assert sorted(fixed.inputs) == ["attention_mask", "input_ids", "token_type_ids"]  # the weight is not an input
    assert outputs.logits is fixed.rewards
    # margins 0.5, 2, 0: (1 * log(1 + e^-0.5) + 0.5 * log(1 + e^-2) + 0.25 * log 2) / 3
    #                  = (0.4740770 + 0.0634640 + 0.1732868) / 3 = 0.7108278 / 3 = 0.2369426
    assert loss.item() == pytest.approx(0.23694259, rel=1e-6)
    assert trainer._metrics["eval"]["accuracy"] == [pytest.approx(2 / 3)]  # the tie counts as wrong
    assert trainer._metrics["eval"]["mean_weight"] == [pytest.approx(1.75 / 3)]
    # unweighted: (0.4740770 + 0.1269280 + 0.6931472) / 3, the same quantity whatever an arm's weights
    assert trainer._metrics["eval"]["bt_loss"] == [pytest.approx(1.2941522 / 3, rel=1e-6)]
    assert trainer._metrics["train"]["accuracy"] == [] and trainer._metrics["train"]["mean_weight"] == []
    fixed.train()
    assert isinstance(trainer.compute_loss(fixed, dict(batch)), torch.Tensor)  # the loss alone by default
    assert trainer._metrics["train"]["accuracy"] == [pytest.approx(2 / 3)]


def test_segment_ids_survive_the_trainer_s_column_filter(segments, tmp_path):
    from scpo.trainer import reward_trainer

    model, tokenizer = segments
    dataset = preference_dataset(tokenizer, ["what food"] * 4, ["a b c"] * 4, ["d"] * 4, np.ones(4), 32)
    trainer = reward_trainer(model, tokenizer, dataset, short_training(tmp_path))
    trainer._set_signature_columns_if_needed()
    assert {"weight", "length", "chosen_token_type_ids", "rejected_token_type_ids"} <= set(trainer._signature_columns)
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["token_type_ids"].shape == batch["input_ids"].shape and batch["token_type_ids"].sum() > 0


# ------------------------------------------------------------------------------------------ samplers, arguments, lora

def test_the_sampler_groups_the_dataset_it_is_given_by_one_process_s_batch(tiny, tmp_path):
    from scpo.trainer import SeededLengthGroupedSampler, reward_trainer

    model, tokenizer = tiny
    trainer = reward_trainer(model, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path))
    assert trainer.args.gradient_accumulation_steps == 1 and trainer.args.world_size == 1
    assert trainer._get_train_sampler().batch_size == 4  # 4 pairs x 1 accumulation step x 1 process
    other = pairs_dataset(tokenizer, None, n=3)
    sampler = trainer._get_train_sampler(other)
    assert isinstance(sampler, SeededLengthGroupedSampler) and sampler.lengths == other["length"]
    assert sorted(sampler) == [0, 1, 2]
    random = reward_trainer(model, tokenizer, pairs_dataset(tokenizer, None),
                            short_training(tmp_path, train_sampling_strategy="random"))
    assert sorted(random._get_train_sampler(other)) == [0, 1, 2]  # the dataset given, not the training set


def test_epoch_e_of_seed_s_is_drawn_from_seed_s_plus_e():
    from scpo.trainer import SeededLengthGroupedSampler

    lengths = list(np.random.default_rng(1).integers(5, 60, size=64))
    later = SeededLengthGroupedSampler(8, lengths, seed=3)
    later.set_epoch(1)
    assert list(later) == list(SeededLengthGroupedSampler(8, lengths, seed=4))  # 3 + 1
    assert list(later) != list(SeededLengthGroupedSampler(8, lengths, seed=2))


def test_reward_config_pins_saving_and_the_seed_offset(tmp_path):
    args = reward_config(TRAINING, tmp_path, seed_offset=2)
    assert args.seed == TRAINING.seed + 2 and args.save_total_limit == 1 and args.save_strategy == "steps"


def recorded_reward_config(monkeypatch, tmp_path) -> dict:
    """The keyword arguments reward_config hands RewardConfig (recorded, not built: building one under a faked
    launcher or accelerator would start accelerate's distributed or device set-up)."""
    import scpo.trainer

    monkeypatch.setattr(scpo.trainer, "RewardConfig", lambda **kwargs: kwargs)
    return reward_config(TRAINING, tmp_path)


def test_a_launcher_s_world_size_splits_the_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    kwargs = recorded_reward_config(monkeypatch, tmp_path)
    assert kwargs["per_device_train_batch_size"] == TRAINING.per_device_train_batch_size // 2


@pytest.mark.parametrize("cuda,mps,use_cpu", [(False, False, True), (True, False, False), (False, True, False)])
def test_reward_config_uses_the_cpu_exactly_when_there_is_no_accelerator(tmp_path, monkeypatch, cuda, mps, use_cpu):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert recorded_reward_config(monkeypatch, tmp_path)["use_cpu"] is use_cpu


def test_an_empty_training_set_error_says_what_to_check(tiny, tmp_path):
    from scpo.trainer import reward_trainer

    model, tokenizer = tiny
    with pytest.raises(ValueError) as info:
        reward_trainer(model, tokenizer, preference_dataset(tokenizer, [], [], [], [], 32), short_training(tmp_path))
    assert str(info.value) == "no training pairs: nothing to fine-tune on (check filtering.tau and the data)"


def test_lora_on_a_bf16_base_trains_fp32_adapters_and_head_as_a_sequence_classifier(tmp_path):
    from scpo.trainer import reward_trainer

    tokenizer = embedded_tokenizer()
    model = embedded_reward_model(RM, len(tokenizer), 32, seed=0).to(torch.bfloat16)
    lora = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"}
    trainer = reward_trainer(model, tokenizer, pairs_dataset(tokenizer, None), short_training(tmp_path), lora=lora)
    settings = trainer.model.peft_config["default"]
    assert settings.task_type == "SEQ_CLS" and settings.r == 4 and settings.lora_alpha == 8  # the given settings
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    frozen = [p for p in trainer.model.parameters() if not p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)


def test_resume_skips_a_cut_off_checkpoint_it_cannot_remove(tmp_path):
    from scpo.trainer import last_complete_checkpoint

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "checkpoint-9").symlink_to(tmp_path / "elsewhere")  # no trainer_state.json; rmtree refuses a link
    (tmp_path / "checkpoint-3").mkdir()
    (tmp_path / "checkpoint-3" / "trainer_state.json").write_text('{"global_step": 3}')
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-3"


def test_a_run_checkpoints_at_its_intervals_but_not_at_its_last_step(tiny, tmp_path):
    from transformers import TrainerCallback

    saved = []

    class Saves(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            saved.append(state.global_step)

    model, tokenizer = tiny
    import copy

    run = train_reward_model(copy.deepcopy(model), tokenizer, pairs_dataset(tokenizer, None),
                             short_training(tmp_path, max_steps=10, save_steps=4), callbacks=[Saves()])
    assert run.state.global_step == 10 and saved == [4, 8]  # not 10: the caller saves the finished model
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-8"]  # save_total_limit 1
    assert run.checkpoint_seconds > 0
