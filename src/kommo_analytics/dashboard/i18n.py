"""Every string the dashboard shows, in Brazilian Portuguese (the default), Spanish and English.

Messages are looked up by key with :func:`t`; numbers, money, dates and durations are formatted
by Babel for the chosen locale, never by hand, so a thousands separator or a date order cannot
differ between pages.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta, tzinfo
from importlib import resources
from typing import Final, Literal

from babel.dates import format_datetime, format_interval, format_timedelta
from babel.numbers import format_currency, format_decimal

Locale = Literal["pt-BR", "es", "en"]

DEFAULT_LOCALE: Final[Locale] = "pt-BR"
LOCALES: Final[tuple[Locale, ...]] = ("pt-BR", "es", "en")

# Babel spells locales with an underscore.
_BABEL: Final[dict[Locale, str]] = {"pt-BR": "pt_BR", "es": "es", "en": "en"}

# Streamlit's date input accepts only these three orders; each matches Babel's short date order.
DATE_INPUT_FORMAT: Final[dict[Locale, str]] = {
    "pt-BR": "DD/MM/YYYY",
    "es": "DD/MM/YYYY",
    "en": "MM/DD/YYYY",
}

# momentJS patterns for Streamlit's datetime columns, which stay sortable as datetimes (a column
# of formatted text would sort 10/01 before 09/02).
DATETIME_COLUMN_FORMAT: Final[dict[Locale, str]] = {
    "pt-BR": "DD/MM/YYYY HH:mm",
    "es": "DD/MM/YYYY HH:mm",
    "en": "MM/DD/YYYY h:mm A",
}

MESSAGES: Final[dict[Locale, dict[str, str]]] = {
    "pt-BR": {
        "app.title": "Kommo Analytics",
        "nav.leads": "Leads",
        "nav.data_health": "Saúde dos dados",
        "sidebar.filters": "Filtros",
        "filter.period": "Período",
        "filter.from": "De",
        "filter.to": "Até",
        "filter.dates_swapped": "A data inicial era posterior à final: as duas foram trocadas.",
        "filter.compare": "Comparar com",
        "filter.compare_range": "Comparação: {range}",
        "filter.pipelines": "Funis",
        "filter.pipelines_all": "Todos os funis",
        "filter.users": "Vendedores",
        "filter.users_all": "Todos os vendedores",
        "filter.user_inactive": "{name} (inativo)",
        "filter.language": "Idioma",
        "preset.today": "Hoje",
        "preset.last_7_days": "Últimos 7 dias",
        "preset.last_30_days": "Últimos 30 dias",
        "preset.last_90_days": "Últimos 90 dias",
        "preset.this_month": "Este mês",
        "preset.last_month": "Mês passado",
        "preset.this_quarter": "Este trimestre",
        "preset.this_year": "Este ano",
        "preset.custom": "Personalizado",
        "compare.previous_period": "Período anterior",
        "compare.previous_year": "Mesmo período do ano passado",
        "compare.none": "Sem comparação",
        "lang.pt-BR": "Português (Brasil)",
        "lang.es": "Español",
        "lang.en": "English",
        "warehouse.unreadable": "Não foi possível ler o armazém de dados: {message}",
        "warehouse.hint": "O que fazer: {hint}",
        "leads.title": "Leads",
        "leads.caption": (
            "Leads criados no período, no fuso horário da conta ({tz}); leads excluídos ficam de "
            "fora. Clique no ID para abrir o lead no Kommo."
        ),
        "leads.count_one": "{count} lead",
        "leads.count_other": "{count} leads",
        "leads.empty": "Nenhum lead corresponde aos filtros.",
        "leads.download_csv": "Baixar CSV",
        "leads.download_xlsx": "Baixar Excel",
        "leads.sheet": "Leads",
        "leads.col.id": "ID",
        "leads.col.url": "Link no Kommo",
        "leads.col.name": "Nome",
        "leads.col.pipeline": "Funil",
        "leads.col.stage": "Etapa",
        "leads.col.user": "Responsável",
        "leads.col.created": "Criado em",
        "leads.col.created_tz": "Criado em ({tz})",
        "leads.col.price": "Valor",
        "leads.col.price_currency": "Valor ({currency})",
        "leads.col.status": "Situação",
        "leads.col.utm_source": "Origem (utm_source)",
        "leads.col.utm_medium": "Mídia (utm_medium)",
        "leads.col.utm_campaign": "Campanha (utm_campaign)",
        "status.won": "Ganho",
        "status.lost": "Perdido",
        "status.open": "Em aberto",
        "health.title": "Saúde dos dados",
        "health.scope": (
            "Esta página descreve o armazém inteiro: os filtros da barra lateral não se aplicam "
            "a ela. Horários no fuso da conta ({tz})."
        ),
        "health.runs": "Últimas sincronizações",
        "health.runs_empty": "Nenhuma sincronização foi registrada.",
        "health.col.started": "Início",
        "health.col.finished": "Fim",
        "health.col.duration": "Duração",
        "health.col.status": "Situação",
        "health.col.mode": "Modo",
        "health.col.rows": "Linhas por fluxo",
        "health.col.requests": "Requisições",
        "health.col.retries": "Novas tentativas",
        "health.col.rate_limited": "Respostas 429",
        "health.col.error": "Erro",
        "health.run_status.ok": "Concluída",
        "health.run_status.failed": "Falhou",
        "health.run_status.running": "Em andamento ou interrompida",
        "health.run_mode.full": "Completa",
        "health.run_mode.incremental": "Incremental",
        "health.freshness": "Atualização por fluxo",
        "health.freshness_caption": "Até onde cada fluxo foi lido, em relação a {now}.",
        "health.freshness_empty": "Nenhum fluxo foi lido ainda.",
        "health.col.stream": "Fluxo",
        "health.col.watermark": "Lido até",
        "health.col.age": "Há quanto tempo",
        "health.col.rows_total": "Linhas carregadas",
        "health.col.updated": "Registrado em",
        "health.counts": "Linhas por tabela",
        "health.col.table": "Tabela",
        "health.col.count": "Linhas",
        "health.quality": "As verificações de qualidade dos dados ainda não existem.",
        "health.warn_no_timezone": "O Kommo não informou o fuso horário da conta; os dias são contados em {tz}. Defina ACCOUNT_TIMEZONE no arquivo .env (por exemplo ACCOUNT_TIMEZONE=America/Sao_Paulo) e sincronize de novo.",
        "health.warn_null_jump": "{column} ({table}) veio vazio em {now} das {rows} linhas da última sincronização (antes: {before}). O Kommo pode ter deixado de enviar este campo; confira alguns desses registros no Kommo.",
    },
    "es": {
        "app.title": "Kommo Analytics",
        "nav.leads": "Leads",
        "nav.data_health": "Salud de los datos",
        "sidebar.filters": "Filtros",
        "filter.period": "Período",
        "filter.from": "Desde",
        "filter.to": "Hasta",
        "filter.dates_swapped": (
            "La fecha inicial era posterior a la final: se intercambiaron las dos."
        ),
        "filter.compare": "Comparar con",
        "filter.compare_range": "Comparación: {range}",
        "filter.pipelines": "Embudos",
        "filter.pipelines_all": "Todos los embudos",
        "filter.users": "Vendedores",
        "filter.users_all": "Todos los vendedores",
        "filter.user_inactive": "{name} (inactivo)",
        "filter.language": "Idioma",
        "preset.today": "Hoy",
        "preset.last_7_days": "Últimos 7 días",
        "preset.last_30_days": "Últimos 30 días",
        "preset.last_90_days": "Últimos 90 días",
        "preset.this_month": "Este mes",
        "preset.last_month": "Mes pasado",
        "preset.this_quarter": "Este trimestre",
        "preset.this_year": "Este año",
        "preset.custom": "Personalizado",
        "compare.previous_period": "Período anterior",
        "compare.previous_year": "Mismo período del año pasado",
        "compare.none": "Sin comparación",
        "lang.pt-BR": "Português (Brasil)",
        "lang.es": "Español",
        "lang.en": "English",
        "warehouse.unreadable": "No se pudo leer el almacén de datos: {message}",
        "warehouse.hint": "Qué hacer: {hint}",
        "leads.title": "Leads",
        "leads.caption": (
            "Leads creados en el período, en la zona horaria de la cuenta ({tz}); los leads "
            "eliminados no se incluyen. Haga clic en el ID para abrir el lead en Kommo."
        ),
        "leads.count_one": "{count} lead",
        "leads.count_other": "{count} leads",
        "leads.empty": "Ningún lead coincide con los filtros.",
        "leads.download_csv": "Descargar CSV",
        "leads.download_xlsx": "Descargar Excel",
        "leads.sheet": "Leads",
        "leads.col.id": "ID",
        "leads.col.url": "Enlace en Kommo",
        "leads.col.name": "Nombre",
        "leads.col.pipeline": "Embudo",
        "leads.col.stage": "Etapa",
        "leads.col.user": "Responsable",
        "leads.col.created": "Creado el",
        "leads.col.created_tz": "Creado el ({tz})",
        "leads.col.price": "Valor",
        "leads.col.price_currency": "Valor ({currency})",
        "leads.col.status": "Estado",
        "leads.col.utm_source": "Fuente (utm_source)",
        "leads.col.utm_medium": "Medio (utm_medium)",
        "leads.col.utm_campaign": "Campaña (utm_campaign)",
        "status.won": "Ganado",
        "status.lost": "Perdido",
        "status.open": "Abierto",
        "health.title": "Salud de los datos",
        "health.scope": (
            "Esta página describe todo el almacén: los filtros de la barra lateral no se "
            "aplican aquí. Horas en la zona horaria de la cuenta ({tz})."
        ),
        "health.runs": "Últimas sincronizaciones",
        "health.runs_empty": "No se registró ninguna sincronización.",
        "health.col.started": "Inicio",
        "health.col.finished": "Fin",
        "health.col.duration": "Duración",
        "health.col.status": "Estado",
        "health.col.mode": "Modo",
        "health.col.rows": "Filas por flujo",
        "health.col.requests": "Solicitudes",
        "health.col.retries": "Reintentos",
        "health.col.rate_limited": "Respuestas 429",
        "health.col.error": "Error",
        "health.run_status.ok": "Completada",
        "health.run_status.failed": "Falló",
        "health.run_status.running": "En curso o interrumpida",
        "health.run_mode.full": "Completa",
        "health.run_mode.incremental": "Incremental",
        "health.freshness": "Actualización por flujo",
        "health.freshness_caption": "Hasta dónde se leyó cada flujo, respecto de {now}.",
        "health.freshness_empty": "Todavía no se leyó ningún flujo.",
        "health.col.stream": "Flujo",
        "health.col.watermark": "Leído hasta",
        "health.col.age": "Hace cuánto",
        "health.col.rows_total": "Filas cargadas",
        "health.col.updated": "Registrado el",
        "health.counts": "Filas por tabla",
        "health.col.table": "Tabla",
        "health.col.count": "Filas",
        "health.quality": "Las verificaciones de calidad de los datos todavía no existen.",
        "health.warn_no_timezone": "Kommo no informó la zona horaria de la cuenta; los días se cuentan en {tz}. Defina ACCOUNT_TIMEZONE en el archivo .env (por ejemplo ACCOUNT_TIMEZONE=America/Mexico_City) y sincronice de nuevo.",
        "health.warn_null_jump": "{column} ({table}) llegó vacío en {now} de las {rows} filas de la última sincronización (antes: {before}). Kommo puede haber dejado de enviar este campo; revise algunos de esos registros en Kommo.",
    },
    "en": {
        "app.title": "Kommo Analytics",
        "nav.leads": "Leads",
        "nav.data_health": "Data health",
        "sidebar.filters": "Filters",
        "filter.period": "Period",
        "filter.from": "From",
        "filter.to": "To",
        "filter.dates_swapped": "The start date was after the end date: the two were swapped.",
        "filter.compare": "Compare with",
        "filter.compare_range": "Comparison: {range}",
        "filter.pipelines": "Pipelines",
        "filter.pipelines_all": "All pipelines",
        "filter.users": "Sellers",
        "filter.users_all": "All sellers",
        "filter.user_inactive": "{name} (inactive)",
        "filter.language": "Language",
        "preset.today": "Today",
        "preset.last_7_days": "Last 7 days",
        "preset.last_30_days": "Last 30 days",
        "preset.last_90_days": "Last 90 days",
        "preset.this_month": "This month",
        "preset.last_month": "Last month",
        "preset.this_quarter": "This quarter",
        "preset.this_year": "This year",
        "preset.custom": "Custom",
        "compare.previous_period": "Previous period",
        "compare.previous_year": "Same period last year",
        "compare.none": "No comparison",
        "lang.pt-BR": "Português (Brasil)",
        "lang.es": "Español",
        "lang.en": "English",
        "warehouse.unreadable": "The warehouse cannot be read: {message}",
        "warehouse.hint": "What to do: {hint}",
        "leads.title": "Leads",
        "leads.caption": (
            "Leads created in the period, in the account's time zone ({tz}); deleted leads are "
            "left out. Click an ID to open the lead in Kommo."
        ),
        "leads.count_one": "{count} lead",
        "leads.count_other": "{count} leads",
        "leads.empty": "No lead matches the filters.",
        "leads.download_csv": "Download CSV",
        "leads.download_xlsx": "Download Excel",
        "leads.sheet": "Leads",
        "leads.col.id": "ID",
        "leads.col.url": "Kommo link",
        "leads.col.name": "Name",
        "leads.col.pipeline": "Pipeline",
        "leads.col.stage": "Stage",
        "leads.col.user": "Responsible",
        "leads.col.created": "Created",
        "leads.col.created_tz": "Created ({tz})",
        "leads.col.price": "Value",
        "leads.col.price_currency": "Value ({currency})",
        "leads.col.status": "Status",
        "leads.col.utm_source": "Source (utm_source)",
        "leads.col.utm_medium": "Medium (utm_medium)",
        "leads.col.utm_campaign": "Campaign (utm_campaign)",
        "status.won": "Won",
        "status.lost": "Lost",
        "status.open": "Open",
        "health.title": "Data health",
        "health.scope": (
            "This page describes the whole warehouse: the sidebar filters do not apply to it. "
            "Times are in the account's time zone ({tz})."
        ),
        "health.runs": "Last sync runs",
        "health.runs_empty": "No sync run has been recorded.",
        "health.col.started": "Started",
        "health.col.finished": "Finished",
        "health.col.duration": "Duration",
        "health.col.status": "Status",
        "health.col.mode": "Mode",
        "health.col.rows": "Rows per stream",
        "health.col.requests": "Requests",
        "health.col.retries": "Retries",
        "health.col.rate_limited": "429 responses",
        "health.col.error": "Error",
        "health.run_status.ok": "Finished",
        "health.run_status.failed": "Failed",
        "health.run_status.running": "Running or interrupted",
        "health.run_mode.full": "Full",
        "health.run_mode.incremental": "Incremental",
        "health.freshness": "Freshness per stream",
        "health.freshness_caption": "How far each stream has been read, relative to {now}.",
        "health.freshness_empty": "No stream has been read yet.",
        "health.col.stream": "Stream",
        "health.col.watermark": "Read up to",
        "health.col.age": "How long ago",
        "health.col.rows_total": "Rows loaded",
        "health.col.updated": "Recorded at",
        "health.counts": "Rows per table",
        "health.col.table": "Table",
        "health.col.count": "Rows",
        "health.quality": "Data-quality checks do not exist yet.",
        "health.warn_no_timezone": "Kommo sent no time zone for the account; days are counted in {tz}. Set ACCOUNT_TIMEZONE in the .env file (e.g. ACCOUNT_TIMEZONE=America/Sao_Paulo) and sync again.",
        "health.warn_null_jump": "{column} ({table}) was empty in {now} of the last sync's {rows} rows (before: {before}). Kommo may have stopped sending this field; check a few of these records in Kommo.",
    },
}


def _merge_catalogues() -> None:
    """Add the pages' catalogues (``dashboard/locales/*.toml``, one table per locale) to
    :data:`MESSAGES`. Each page keeps its strings in its own file; a key defined twice is a bug
    caught at import, not a string silently replaced."""
    folder = resources.files("kommo_analytics.dashboard") / "locales"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        catalogue = tomllib.loads(entry.read_text(encoding="utf-8"))
        for locale in LOCALES:
            for key, text in catalogue.get(locale, {}).items():
                if key in MESSAGES[locale]:
                    raise KeyError(f"{entry.name}: message {key!r} ({locale}) is defined twice")
                MESSAGES[locale][key] = text


_merge_catalogues()


def normalise_locale(value: str | None) -> Locale:
    """A supported locale for `value` (as found in a URL), or the default."""
    for locale in LOCALES:
        if value is not None and value.lower() == locale.lower():
            return locale
    return DEFAULT_LOCALE


def t(key: str, locale: Locale, **values: object) -> str:
    """The message `key` in `locale`, with `{placeholders}` filled from `values`.

    A key missing from a locale is a bug the catalogue test catches; at run time it falls back
    to the default locale rather than showing a key to a user.
    """
    template = MESSAGES[locale].get(key) or MESSAGES[DEFAULT_LOCALE][key]
    return template.format(**values) if values else template


def tn(key: str, count: int, locale: Locale, **values: object) -> str:
    """A message with a count: `key_one` for exactly one, `key_other` otherwise (all three
    locales pluralise that way), with the count formatted for the locale."""
    suffix = "one" if count == 1 else "other"
    return t(f"{key}_{suffix}", locale, count=number(count, locale), **values)


def babel_locale(locale: Locale) -> str:
    return _BABEL[locale]


def number(value: float, locale: Locale) -> str:
    return format_decimal(value, locale=_BABEL[locale])


def money(value: float | None, currency: str, locale: Locale) -> str:
    if value is None:
        return ""
    return format_currency(value, currency, locale=_BABEL[locale])


def moment(value: datetime, zone: tzinfo, locale: Locale) -> str:
    """A point in time as the locale writes it (short date and time), in `zone`."""
    return format_datetime(value, "short", tzinfo=zone, locale=_BABEL[locale])


def duration(value: timedelta, locale: Locale) -> str:
    return format_timedelta(value, format="short", locale=_BABEL[locale])


def ago(then: datetime, now: datetime, locale: Locale) -> str:
    """How long before `now` `then` was ("3 hours ago"); a time after `now` (a server clock
    ahead of this one) reads as "in 3 hours" rather than being hidden."""
    return format_timedelta(then - now, add_direction=True, locale=_BABEL[locale])


def date_range(start: date, end: date, locale: Locale) -> str:
    """An inclusive day range as the locale writes it ("1 – 25 de nov. de 2026")."""
    return format_interval(start, end, "yMMMd", locale=_BABEL[locale])
