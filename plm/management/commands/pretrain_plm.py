"""manage.py pretrain_plm: pretrain ELECTRA on TFRecords, on a TPU, GPUs or the CPU (resumes by itself)."""

from django.core.management.base import BaseCommand, CommandError

# flag name → PretrainingConfig field, with the original configure_pretraining.py names
CONFIG_FLAGS = {
    "model_size": str,
    "embedding_size": int,
    "hidden_size": int,
    "num_hidden_layers": int,
    "num_attention_heads": int,
    "intermediate_size": int,
    "generator_hidden_size": float,
    "generator_layers": float,
    "num_train_steps": int,
    "num_warmup_steps": int,
    "train_batch_size": int,
    "max_seq_length": int,
    "learning_rate": float,
    "mask_prob": float,
    "save_checkpoints_steps": int,
    "keep_checkpoint_max": int,
    "iterations_per_loop": int,
    "seed": int,
}


class Command(BaseCommand):
    help = (
        "Pretrain ELECTRA (generator + discriminator, replaced-token detection) on TFRecords written by "
        "build_pretraining_data. Checkpoints use the original ELECTRA variable names; rerunning the same "
        "command resumes from the latest checkpoint in --output."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            required=True,
            nargs="+",
            help="TFRecord files, directories (every pretrain_data.tfrecord-* inside) or glob patterns",
        )
        parser.add_argument("--tokenizer", required=True, help="the tokenizer directory the data was built with")
        parser.add_argument("--output", required=True, help="directory for checkpoints, summaries and the config")
        parser.add_argument("--config", help="a JSON file that may set any option below (flags win over it)")
        parser.add_argument("--model-size", choices=["small", "base", "large"], help="shape preset (default small)")
        for flag, kind in CONFIG_FLAGS.items():
            if flag != "model_size":
                parser.add_argument("--" + flag.replace("_", "-"), type=kind, dest=flag)
        parser.add_argument("--tpu", help="TPU name or address: TPUClusterResolver + TPUStrategy")
        parser.add_argument(
            "--no-mixed-precision", action="store_true", help="float32 even where bfloat16 is supported"
        )

    def handle(self, *args, **options):
        from plm.electra.config import PretrainingConfig
        from plm.electra.train import data_files, pretrain
        from plm.vocab import load_tokenizer

        try:
            tokenizer = load_tokenizer(options["tokenizer"])
            values = {}
            if options["config"]:
                values.update(PretrainingConfig.from_json(options["config"]).to_dict())
            values.update({k: options[k] for k in CONFIG_FLAGS if options.get(k) is not None})
            values.update(
                vocab_size=len(tokenizer),
                pad_token_id=tokenizer.pad_token_id,
                cls_token_id=tokenizer.cls_token_id,
                sep_token_id=tokenizer.sep_token_id,
                mask_token_id=tokenizer.mask_token_id,
                do_lower_case=False,
                tokenizer_dir=str(options["tokenizer"]),
            )
            config = PretrainingConfig.from_dict(values)
            files = data_files(options["data"], config.max_seq_length)
        except (ValueError, FileNotFoundError, OSError) as exc:
            raise CommandError(str(exc)) from exc

        tokenizer.save_pretrained(f"{options['output']}/tokenizer")
        self.stdout.write(
            f"ELECTRA-{config.model_size}: hidden {config.hidden_size}, {config.num_hidden_layers} layers, "
            f"embedding {config.embedding_size}, generator hidden {config.generator_hidden} × "
            f"{config.generator_num_layers} layers, vocabulary {config.vocab_size}; {len(files)} TFRecord files"
        )
        try:
            summary = pretrain(
                config,
                files,
                options["output"],
                tpu=options["tpu"],
                mixed_precision=not options["no_mixed_precision"],
                progress=options["verbosity"] > 0,
            )
        except ValueError as exc:  # a checkpoint that does not fit the configuration
            raise CommandError(str(exc)) from exc
        metrics = summary["final_metrics"]
        self.stdout.write(
            f"step {summary['final_step']} ({summary['strategy']} strategy, {summary['num_replicas']} replica(s), "
            f"{summary['compute_dtype']})"
            + (
                f": loss {metrics['total_loss']:.3f}, generator {metrics['generator_loss']:.3f}, "
                f"discriminator {metrics['discriminator_loss']:.3f}"
                if metrics
                else ": nothing left to train"
            )
            + f"; checkpoint {summary['checkpoint']}"
        )
