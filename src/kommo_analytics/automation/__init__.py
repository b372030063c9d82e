"""Running unattended: the scheduler behind `kommo-analytics serve`, cron entries, alerts, the
weekly report and the e-mail they share. Reads data only through the read service."""

from typing import Final

# Where `serve` keeps the weekly PDFs (under DATA_DIR) and how they are named: the scheduler
# looks for them at start without importing the report's heavy modules.
REPORTS_FOLDER: Final = "reports"
WEEKLY_FILE_PREFIX: Final = "kommo-weekly-"
