import json

from django.core.management.base import BaseCommand, CommandError

from infra.health import get_health


class Command(BaseCommand):
    help = "Say whether Redis answers (the seed's health check). Exits 1 when the site is on its fallback."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        report = get_health()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, default=str))
        elif report["status"] == "ok":
            self.stdout.write(self.style.SUCCESS(f"✅ Redis is available ({report['redis_url']})"))
            self.stdout.write(self.style.SUCCESS(f"✅ Redis ping successful ({report['ping_ms']} ms)"))
        else:
            self.stdout.write(self.style.ERROR(f"❌ {report['reason']}"))
            self.stdout.write("Check REDIS_URL (or REDIS_HOST/REDIS_PORT) and that redis-server is running.")
        if report["status"] != "ok":
            raise CommandError("Redis is unavailable", returncode=1)
