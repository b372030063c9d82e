"""KPI targets: what the overview's cards are coloured against, editable and kept for everyone."""

from __future__ import annotations

import streamlit as st

from kommo_analytics.dashboard import auth, filters
from kommo_analytics.errors import KommoAnalyticsError
from kommo_analytics.service import targets
from kommo_analytics.settings import load_settings
from kommo_analytics.text.i18n import t


def render() -> None:
    auth.refuse_unless_settings()
    view = filters.current_view()
    locale = view.locale
    st.title(t("settings.title", locale))
    st.caption(t("settings.caption", locale))
    data_dir = load_settings().data_dir
    try:
        current = targets.load(data_dir)
    except KommoAnalyticsError as exc:
        st.warning(t("targets.unreadable", locale, message=exc.message))
        current = {spec.key: spec.default for spec in targets.TARGETS}
    with st.form("kpi_targets"):
        values = {}
        for spec in targets.TARGETS:
            values[spec.key] = st.number_input(
                t(f"settings.target.{spec.key}", locale),
                min_value=0.0,
                value=float(current[spec.key]),
                step=1.0 if spec.unit != "hours" else 0.5,
                key=f"target.{spec.key}",
            )
        saved = st.form_submit_button(t("settings.save", locale), type="primary")
    if saved:
        try:
            targets.save(data_dir, values)
        except (KommoAnalyticsError, OSError) as exc:
            st.error(t("settings.save_failed", locale, message=str(exc)))
        else:
            st.success(t("settings.saved", locale))
    if st.button(t("settings.reset", locale)):
        targets.save(data_dir, {spec.key: spec.default for spec in targets.TARGETS})
        for spec in targets.TARGETS:
            st.session_state.pop(f"target.{spec.key}", None)
        st.rerun()


if __name__ == "__main__":
    render()
