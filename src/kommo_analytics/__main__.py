from kommo_analytics.cli.main import app

app(prog_name="kommo-analytics")
