"""manage.py evaluate_pretraining: threshold-free measures of pretraining checkpoints on held-out TFRecords."""

import json
import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Evaluate pretrain_plm checkpoints on held-out pretraining TFRecords: the discriminator's AUC on "
        "generator-replaced and on randomly replaced tokens (which moves long before its accuracy leaves the "
        "base rate) and the generator's masked-LM accuracy and loss. Prints a table and writes JSON."
    )

    # help and add_arguments have the shape every command has; the options are this command's own.
    def add_arguments(self, parser):
        parser.add_argument("run", help="pretrain_plm's output directory")
        parser.add_argument(
            "--data",
            required=True,
            nargs="+",
            help="held-out TFRecords (files, directories or globs) with the run's max_seq_length",
        )
        parser.add_argument("--checkpoints", default="all", choices=["all", "latest"])
        parser.add_argument("--batches", type=int, default=8)
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument("--json", help="where to write the results (default: RUN/evaluation.json)")

    def handle(self, *args, **options):
        import tensorflow as tf

        from plm.electra import checkpoint
        from plm.electra.evaluate import evaluate_checkpoint
        from plm.electra.model import load_electra
        from plm.electra.train import data_files, make_dataset

        run = Path(options["run"])
        if not (run / checkpoint.CONFIG_FILE).exists():
            raise CommandError(f"{run} has no {checkpoint.CONFIG_FILE}: pass a pretrain_plm output directory")
        config = checkpoint.read_config(run / checkpoint.CONFIG_FILE)
        state = tf.train.get_checkpoint_state(str(run))
        if state is None or not state.all_model_checkpoint_paths:
            raise CommandError(f"{run} holds no checkpoint")
        paths = (
            list(state.all_model_checkpoint_paths) if options["checkpoints"] == "all" else [state.model_checkpoint_path]
        )
        try:
            files = data_files(options["data"], config.max_seq_length)
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        dataset = make_dataset(files, config.max_seq_length, options["batch_size"], seed=12345, shuffle_buffer=1000)
        batches = list(dataset.take(options["batches"]))

        results = []
        header = f"{'step':>8} {'disc AUC':>9} {'random AUC':>11} {'disc acc':>9} {'gen acc':>8} {'gen loss':>9} {'spread':>7}"
        self.stdout.write(header)
        for path in sorted(paths, key=lambda p: int(re.search(r"(\d+)$", p).group(1))):
            path = str(run / Path(path).name) if not Path(path).is_absolute() else path
            step = int(re.search(r"(\d+)$", path).group(1))
            figures = {"step": step, "checkpoint": path, **evaluate_checkpoint(load_electra(path, config), batches)}
            results.append(figures)
            self.stdout.write(
                f"{step:8d} {figures['discriminator_auc']:9.3f} {figures['random_replacement_auc']:11.3f} "
                f"{figures['discriminator_accuracy']:9.3f} {figures['generator_accuracy']:8.3f} "
                f"{figures['generator_loss']:9.3f} {figures['representation_spread']:7.3f}"
            )
        collapsed = [r["step"] for r in results if r["representation_spread"] < 0.05]
        if collapsed:
            self.stdout.write(
                self.style.WARNING(
                    f"collapsed (spread < 0.05: every token nearly the same vector) at step(s) "
                    f"{', '.join(map(str, collapsed))}: fine-tuning from these will not learn; use an earlier checkpoint "
                    "or pretrain with a lower learning rate"
                )
            )
        target = Path(options["json"] or run / "evaluation.json")
        target.write_text(
            json.dumps(
                {
                    "data": [str(f) for f in files],
                    "batches": options["batches"],
                    "batch_size": options["batch_size"],
                    "results": results,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        self.stdout.write(f"written: {target}")
