"""Queue dead webhook deliveries again, under the same delivery id (receivers deduplicate on it)."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from moderation import webhooks
from moderation.models import WebhookDelivery


class Command(BaseCommand):
    help = (
        "Re-queue dead webhook deliveries (all, or those named with --id) with their original delivery id "
        "and body; each gets HWADMIN_WEBHOOK_MAX_ATTEMPTS new attempts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--id", action="append", default=[], metavar="UUID", dest="ids", help="only this delivery (repeatable)"
        )
        parser.add_argument(
            "--pending-older-than",
            type=int,
            metavar="MINUTES",
            default=None,
            help="also re-queue deliveries still pending after MINUTES (their task was lost)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list what would be re-queued; change nothing")

    def handle(self, *args, ids, pending_older_than, dry_run, **options):
        wanted = []
        for value in ids:
            try:
                wanted.append(uuid.UUID(value))
            except ValueError:
                raise CommandError(f"--id {value!r} is not a delivery id (a UUID such as {uuid.uuid4()})") from None
        if pending_older_than is not None and pending_older_than < 1:
            raise CommandError(f"--pending-older-than must be at least 1 minute (got {pending_older_than})")
        if not dry_run:
            if not settings.HWADMIN["WEBHOOK_URL"]:
                raise CommandError("HWADMIN_WEBHOOK_URL is not set: there is nowhere to deliver to")
            problems = webhooks.configuration_problems()
            if problems:
                raise CommandError(
                    "the webhook configuration is unsafe; nothing was re-queued:\n  " + "\n  ".join(problems)
                )

        states = [WebhookDelivery.Status.DEAD]
        deliveries = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DEAD)
        if pending_older_than is not None:
            states.append(WebhookDelivery.Status.PENDING)
            stale = timezone.now() - timedelta(minutes=pending_older_than)
            deliveries = deliveries | WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.PENDING, updated_at__lt=stale
            )
        if wanted:
            found = dict(WebhookDelivery.objects.filter(pk__in=wanted).values_list("pk", "status"))
            missing = [str(pk) for pk in wanted if pk not in found]
            if missing:
                raise CommandError(f"no webhook delivery with id {', '.join(missing)}")
            wrong = [f"{pk} is {status}" for pk, status in found.items() if status not in states]
            if wrong:
                raise CommandError(f"only dead deliveries are re-queued: {'; '.join(wrong)}")
            deliveries = deliveries.filter(pk__in=wanted)

        with transaction.atomic():
            rows = list(deliveries.select_for_update().order_by("created_at", "pk"))
            for row in rows:
                self.stdout.write(
                    f"{'would re-queue' if dry_run else 're-queue'} {row.id} {row.event} "
                    f"({row.status}, {row.attempts} attempts; last error: {row.last_error or '-'})"
                )
            if not dry_run and rows:
                WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
                    status=WebhookDelivery.Status.PENDING, attempts=0, updated_at=timezone.now()
                )
        plural = "y" if len(rows) == 1 else "ies"
        if dry_run:
            self.stdout.write(self.style.SUCCESS(f"would re-queue {len(rows)} deliver{plural}"))
            return
        sent = webhooks.queue_deliveries(rows)
        if sent < len(rows):
            raise CommandError(
                f"queued {sent} of {len(rows)} deliveries; the broker refused the others, which stay pending: "
                "run this command again with --pending-older-than 1 once the broker is back"
            )
        self.stdout.write(self.style.SUCCESS(f"re-queued {len(rows)} deliver{plural}"))
