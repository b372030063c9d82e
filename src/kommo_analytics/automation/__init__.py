"""Running unattended: the scheduler behind `kommo-analytics serve`, cron entries, alerts, the
weekly report and the e-mail they share. Reads data only through the read service."""
