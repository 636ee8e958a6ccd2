"""manage.py port_checkpoint: an ELECTRA TensorFlow checkpoint → HuggingFace PyTorch directories."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Port an ELECTRA TensorFlow checkpoint (original variable names: ours from pretrain_plm, or a released "
        "ELECTRA / KoELECTRA one) to a HuggingFace ElectraForPreTraining directory and, with --generator-output, "
        "an ElectraForMaskedLM directory. Refuses to write unless every weight is filled with the right shape."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "checkpoint", help="checkpoint prefix (…/ckpt-1000 or model.ckpt-1000) or its directory (latest)"
        )
        parser.add_argument("--output", required=True, help="directory for the discriminator (ElectraForPreTraining)")
        parser.add_argument(
            "--generator-output", help="also port the generator (ElectraForMaskedLM) into this directory"
        )
        parser.add_argument(
            "--config",
            help="training config: pretraining_config.json (default: the one beside the checkpoint) "
            "or a released checkpoint's hparams JSON",
        )
        parser.add_argument(
            "--tokenizer",
            help="the tokenizer directory used in pretraining (tokenizer.json, or vocab.txt for released checkpoints); "
            "default: the checkpoint directory (or its tokenizer/ folder) when it holds one, else "
            "tokenizer_dir / vocab_file from the training config",
        )
        parser.add_argument(
            "--format",
            choices=["safetensors", "bin"],
            default="safetensors",
            help="bin also writes pytorch_model.bin beside model.safetensors",
        )
        parser.add_argument(
            "--storage-dtype",
            choices=["float32", "float16"],
            default="float32",
            help="float16 stores the weights at half the size (config.json keeps float32: they load as float32); "
            "with --verify the reloaded model's largest logit change is printed",
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="run one batch through TensorFlow and PyTorch; fail if the logits differ by more than 1e-4",
        )
        parser.add_argument(
            "--verify-text",
            action="append",
            default=[],
            metavar="TEXT",
            help="a text for the --verify batch (repeatable; default: random token ids)",
        )

    def handle(self, *args, **options):
        from plm import porting

        checkpoint = Path(options["checkpoint"])
        config_path = Path(options["config"]) if options["config"] else self.find_config(checkpoint)
        tokenizer_dir = options["tokenizer"] or self.find_tokenizer(config_path, checkpoint, porting)
        outputs = {"discriminator": options["output"]}
        if options["generator_output"]:
            outputs["generator"] = options["generator_output"]
        formats = ("safetensors", "bin") if options["format"] == "bin" else ("safetensors",)
        try:
            results = porting.port_checkpoint(
                checkpoint,
                config_path,
                outputs,
                tokenizer_dir,
                formats=formats,
                verify=options["verify"],
                verify_texts=options["verify_text"] or None,
                storage_dtype=options["storage_dtype"],
            )
        except porting.PortError as exc:
            raise CommandError(str(exc)) from exc
        for result in results:
            arch = result.arch
            self.stdout.write(
                f"{result.which}: {result.weights} weights → {result.output} "
                f"(hidden {arch.hidden_size}, {arch.num_hidden_layers} layers, {arch.num_attention_heads} heads, "
                f"vocabulary {arch.vocab_size})"
            )
            if result.max_difference is not None:
                self.stdout.write(
                    f"{result.which}: largest |TF − PyTorch| logit difference {result.max_difference:.3g}"
                )
            if result.storage_difference is not None:
                self.stdout.write(
                    f"{result.which}: stored as {options['storage_dtype']}, largest logit change on reloading "
                    f"{result.storage_difference:.3g}"
                )
        self.stdout.write(self.style.SUCCESS("ported"))

    @staticmethod
    def find_config(checkpoint):
        directory = checkpoint if checkpoint.is_dir() else checkpoint.parent
        for candidate in (directory / "pretraining_config.json", directory.parent / "pretraining_config.json"):
            if candidate.exists():
                return candidate
        raise CommandError(
            f"no pretraining_config.json beside {checkpoint}; pass --config with the training config "
            "(for a released checkpoint, its hparams JSON with model_size, vocab_size, embedding_size ...)"
        )

    @staticmethod
    def find_tokenizer(config_path, checkpoint, porting):
        directory = checkpoint if checkpoint.is_dir() else checkpoint.parent
        for candidate in (directory, directory / "tokenizer"):
            if (candidate / "tokenizer.json").exists() or (candidate / "vocab.txt").exists():
                return candidate
        try:
            config = porting.read_training_config(config_path)
        except porting.PortError as exc:
            raise CommandError(str(exc)) from exc
        for key in ("tokenizer_dir", "vocab_dir", "vocab_file"):
            value = config.get(key)
            if value and Path(value).exists():
                return Path(value).parent if key == "vocab_file" and Path(value).is_file() else Path(value)
        raise CommandError(
            f"{config_path} names no tokenizer that exists here; pass --tokenizer DIR (the directory with "
            "tokenizer.json written by train_tokenizer, or a release's vocab.txt)"
        )
