"""A tiny, hand-built account store: a few rows in every table, each there for a reason.

The rows cover what the wire tests need to see: a deactivated user, two pipelines with their
system stages (inserted out of sort order), won and lost leads (with a loss reason), UTMs on some
leads and no custom-field values on others, a deleted lead, a deleted contact, events of several
types including a chat event on a contact, tasks with and without a result, call notes and
incoming-lead (unsorted) rows.
"""

from __future__ import annotations

import json

from kommo_analytics.emulator.store import AccountStore

ACCOUNT_ID = 31000001
T = 1_764_000_000  # 2025-11-24 16:00 UTC: every timestamp below is T + something
NOW = T + 100_000  # the clock the wire tests run on

ADMIN, SELLER, FORMER = 8100001, 8100002, 8100003
SALES, PARTNERS = 7100001, 7100002
INCOMING, CONTACTED, PROPOSAL = 61000001, 61000002, 61000003
P2_INCOMING, P2_TALKING = 62000001, 62000002
WON, LOST = 142, 143
TOO_EXPENSIVE, NO_ANSWER = 9300001, 9300002
UTM_SOURCE_FIELD, UTM_MEDIUM_FIELD, UTM_CAMPAIGN_FIELD, GCLID_FIELD = 500101, 500102, 500103, 500107
PRODUCT_FIELD, QUANTITY_FIELD = 612001, 612002
PREMIUM = 901
ACME = 40033001
JOAO, MARIA, GONE_CONTACT = 20022001, 20022002, 20022003
LEAD_WON, LEAD_LOST, LEAD_OPEN, LEAD_PARTNER, LEAD_DELETED, LEAD_INCOMING = (
    30011001, 30011002, 30011003, 30011004, 30011005, 30011006,
)  # fmt: skip
LIVE_LEADS = (LEAD_WON, LEAD_LOST, LEAD_OPEN, LEAD_PARTNER, LEAD_INCOMING)
SITE_SOURCE = 8800001


def _insert(store: AccountStore, table: str, rows: list[tuple[object, ...]]) -> None:
    cur = store.cursor()
    placeholders = ", ".join("?" * len(rows[0]))
    cur.executemany(f"INSERT INTO {table} VALUES ({placeholders})", [list(r) for r in rows])


def _status(after: tuple[int, int], before: tuple[int, int]) -> tuple[str, str]:
    def one(pair: tuple[int, int]) -> str:
        return json.dumps([{"lead_status": {"id": pair[0], "pipeline_id": pair[1]}}])

    return one(before), one(after)


def tiny_store() -> AccountStore:
    store = AccountStore.empty()
    _insert(store, "account", [(
        ACCOUNT_ID, "Loja Tiny", "tiny", T - 86400 * 400, ADMIN, T - 86400, ADMIN,
        ADMIN, "BR", "BRL", "R$", "disabled", True, True, False, False, 1,
        "amojo-0000-tiny", "uuid-0000-tiny", 2,
        "America/Sao_Paulo", "-03:00", "d.m.Y", "d.m", "H:i", "d.m.Y", "H:i",
    )])  # fmt: skip
    _insert(store, "users_groups", [(0, "Equipe padrão", None), (10, "Vendas", "grp-uuid-10")])
    _insert(store, "task_types", [
        (1, "Follow-up", "FOLLOW_UP", None, None),
        (2, "Meeting", "MEETING", None, None),
        (3, "Proposta", None, "#ff8f92", 5),
    ])  # fmt: skip
    _insert(store, "users", [
        (ADMIN, "Ana Admin", "ana@tiny.test", "pt", True, False, True, 0, None),
        (SELLER, "Bruno Vendas", "bruno@tiny.test", "pt", False, False, True, 10, 501),
        (FORMER, "Carla Saiu", "carla@tiny.test", "pt", False, True, False, 10, 501),
    ])  # fmt: skip
    _insert(store, "pipelines", [
        (PARTNERS, "Parcerias", 2, False, False, False),
        (SALES, "Vendas", 1, True, True, False),
    ])  # fmt: skip
    # Inserted out of sort order on purpose: the API must order stages by `sort`.
    _insert(store, "statuses", [
        (WON, SALES, "Venda ganha", 10000, 0, "#CCFF66", False),
        (PROPOSAL, SALES, "Proposta enviada", 30, 0, "#ffcc66", True),
        (INCOMING, SALES, "Leads de entrada", 10, 1, "#c1c1c1", False),
        (LOST, SALES, "Venda perdida", 11000, 0, "#D5D8DB", False),
        (CONTACTED, SALES, "Contato feito", 20, 0, "#99ccff", True),
        (P2_INCOMING, PARTNERS, "Leads de entrada", 10, 1, "#c1c1c1", False),
        (P2_TALKING, PARTNERS, "Conversando", 20, 0, "#fffeb2", True),
        (WON, PARTNERS, "Venda ganha", 10000, 0, "#CCFF66", False),
        (LOST, PARTNERS, "Venda perdida", 11000, 0, "#D5D8DB", False),
    ])  # fmt: skip
    _insert(store, "loss_reasons", [
        (NO_ANSWER, "Sem resposta", 2, T - 5000, T - 4000),
        (TOO_EXPENSIVE, "Preço alto", 1, T - 5000, T - 4500),
    ])  # fmt: skip
    enums = json.dumps([{"id": PREMIUM, "value": "Premium", "sort": 1},
                        {"id": 902, "value": "Básico", "sort": 2}])  # fmt: skip
    _insert(store, "custom_fields", [
        (UTM_SOURCE_FIELD, "leads", "utm_source", "UTM_SOURCE", "tracking_data", 1, False, True, False, None),
        (UTM_MEDIUM_FIELD, "leads", "utm_medium", "UTM_MEDIUM", "tracking_data", 2, False, True, False, None),
        (UTM_CAMPAIGN_FIELD, "leads", "utm_campaign", "UTM_CAMPAIGN", "tracking_data", 3, False, True, False, None),
        (500104, "leads", "utm_content", "UTM_CONTENT", "tracking_data", 4, False, True, False, None),
        (500105, "leads", "utm_term", "UTM_TERM", "tracking_data", 5, False, True, False, None),
        (500106, "leads", "referrer", "REFERRER", "tracking_data", 6, False, True, False, None),
        (GCLID_FIELD, "leads", "gclid", "GCLID", "tracking_data", 7, False, True, False, None),
        (500108, "leads", "fbclid", "FBCLID", "tracking_data", 8, False, True, False, None),
        (PRODUCT_FIELD, "leads", "Produto", None, "select", 20, False, False, True, enums),
        (QUANTITY_FIELD, "leads", "Quantidade", None, "numeric", 21, False, False, True, None),
        (700001, "contacts", "Telefone", "PHONE", "multitext", 1, False, True, False, None),
    ])  # fmt: skip
    _insert(store, "tags", [
        (4001, "leads", "website", None),
        (4002, "leads", "indicação", "#ffdd00"),
        (4003, "contacts", "vip", None),
    ])  # fmt: skip
    _insert(store, "sources", [(SITE_SOURCE, "Formulário do site", SALES, "site-form", "site")])
    _insert(store, "companies", [
        (ACME, "Acme Ltda", SELLER, 10, SELLER, SELLER, T - 9000, T - 8000, None, False),
    ])  # fmt: skip
    _insert(store, "contacts", [
        (JOAO, "João Silva", "João", "Silva", SELLER, 10, SELLER, SELLER, T - 9000, T - 500, None, False, ACME, [4003]),
        (MARIA, "Maria Souza", "Maria", "Souza", ADMIN, 0, 0, ADMIN, T - 8000, T - 400, T + 3600, False, None, []),
        (GONE_CONTACT, "Excluído", None, None, ADMIN, 0, ADMIN, ADMIN, T - 7000, T - 300, None, True, None, []),
    ])  # fmt: skip
    # id, name, price, responsible, group, status, pipeline, loss_reason, source, created_by,
    # updated_by, created_at, updated_at, closed_at, closest_task_at, is_deleted, deleted_at,
    # score, labor_cost, utm_source, utm_medium, utm_campaign, utm_content, utm_term, referrer,
    # gclid, fbclid, product_enum_id, quantity, company_id, tag_ids
    _insert(store, "leads", [
        (LEAD_WON, "Formulário do site #1", 1500, SELLER, 10, WON, SALES, None, SITE_SOURCE, 0,
         SELLER, T - 6000, T - 1000, T - 1000, None, False, None, None, 0,
         "google", "cpc", "black_friday", None, None, None, None, None, PREMIUM, 12, None, [4001]),
        (LEAD_LOST, "Ligação recebida", 0, SELLER, 10, LOST, SALES, NO_ANSWER, None, SELLER,
         SELLER, T - 5000, T - 2000, T - 2000, None, False, None, None, 0,
         None, None, None, None, None, None, None, None, None, None, ACME, []),
        (LEAD_OPEN, "Negócio aberto", 900, ADMIN, 0, CONTACTED, SALES, None, None, 0,
         ADMIN, T - 4000, T - 3000, None, T + 7200, False, None, 7, 120,
         None, None, None, None, None, None, "gclid-abc", None, None, None, None, [4002, 4001]),
        (LEAD_PARTNER, "Parceria Norte", 5000, FORMER, 10, P2_TALKING, PARTNERS, None, None,
         FORMER, FORMER, T - 3000, T - 2500, None, None, False, None, None, 0,
         "parceiro", "referral", None, None, None, None, None, None, None, None, None, []),
        (LEAD_DELETED, "Apagado", 100, ADMIN, 0, CONTACTED, SALES, None, None, ADMIN,
         ADMIN, T - 2000, T - 1800, None, None, True, T - 1500, None, 0,
         None, None, None, None, None, None, None, None, None, None, None, []),
        (LEAD_INCOMING, "Chat WhatsApp", None, ADMIN, 0, INCOMING, SALES, None, None, 0,
         0, T - 1000, T - 900, None, None, False, None, None, None,
         None, None, None, None, None, None, None, None, None, None, None, None),
    ])  # fmt: skip
    _insert(store, "lead_contacts", [
        (LEAD_WON, MARIA, False),
        (LEAD_WON, JOAO, True),
        (LEAD_LOST, MARIA, True),
        (LEAD_OPEN, GONE_CONTACT, True),
        (LEAD_DELETED, JOAO, True),
    ])  # fmt: skip
    won_before, won_after = _status((WON, SALES), (PROPOSAL, SALES))
    lost_before, lost_after = _status((LOST, SALES), (CONTACTED, SALES))
    open_before, open_after = _status((CONTACTED, SALES), (INCOMING, SALES))
    _insert(store, "events", [
        ("01jtiny00000000000000000a1", 1, "lead_added", LEAD_WON, "lead", 0, T - 6000,
         "[]", json.dumps([{"note": {"id": 77000001}}])),
        ("01jtiny00000000000000000a2", 2, "lead_status_changed", LEAD_WON, "lead", SELLER,
         T - 1000, won_before, won_after),
        ("01jtiny00000000000000000a3", 3, "lead_status_changed", LEAD_LOST, "lead", SELLER,
         T - 2000, lost_before, lost_after),
        ("01jtiny00000000000000000a4", 4, "incoming_chat_message", JOAO, "contact", 0, T - 2000,
         "[]", json.dumps([{"message": {"id": "5a2c9f0e-0000-4000-8000-000000000001"}}])),
        ("01jtiny00000000000000000a5", 5, "outgoing_call", LEAD_OPEN, "lead", SELLER, T - 3500,
         "[]", json.dumps([{"note": {"id": 77000002}}])),
        ("01jtiny00000000000000000a6", 6, "entity_responsible_changed", LEAD_OPEN, "lead",
         ADMIN, T - 3000, json.dumps([{"responsible_user": {"id": SELLER}}]),
         json.dumps([{"responsible_user": {"id": ADMIN}}])),
        ("01jtiny00000000000000000a7", 7, "task_completed", 5500001, "task", SELLER, T - 1200,
         "[]", "[]"),
        ("01jtiny00000000000000000a8", 8, "lead_deleted", LEAD_DELETED, "lead", ADMIN, T - 1500,
         "[]", "[]"),
        ("01jtiny00000000000000000a9", 9, "lead_status_changed", LEAD_OPEN, "lead", 0, T - 3800,
         open_before, open_after),
    ])  # fmt: skip
    _insert(store, "tasks", [
        (5500001, SELLER, SELLER, T - 5000, T - 1200, SELLER, 10, LEAD_WON, "leads", 0, True, 1,
         "Ligar sobre o preço", "Fechou, enviando contrato", T - 1300, T - 1200),
        (5500002, 0, SELLER, T - 4500, T - 1100, SELLER, 10, LEAD_LOST, "leads", 1800, True, 2,
         "Reunião de demonstração", None, T - 1150, T - 1100),
        (5500003, ADMIN, ADMIN, T - 4000, T - 3000, ADMIN, 0, JOAO, "contacts", 0, False, 3,
         "Enviar proposta", None, T + 7200, None),
        (5500004, ADMIN, ADMIN, T - 3000, T - 2000, ADMIN, 0, None, None, 0, False, 1,
         "Tarefa solta", None, T + 3600, None),
    ])  # fmt: skip
    call = {"uniq": "call-1", "duration": 125, "source": "telephony", "link": "https://rec.test/1.mp3",
            "phone": "+5511999990000", "call_status": 4, "call_result": "Conversou"}  # fmt: skip
    _insert(store, "notes", [
        (77000001, "leads", LEAD_WON, SELLER, SELLER, T - 6000, T - 6000, SELLER, 10,
         "call_in", json.dumps(call)),
        (77000002, "leads", LEAD_OPEN, SELLER, SELLER, T - 3500, T - 3400, SELLER, 10,
         "call_out", json.dumps({**call, "uniq": "call-2", "call_status": 6, "duration": 0})),
        (77000003, "contacts", JOAO, ADMIN, ADMIN, T - 2500, T - 2500, ADMIN, 0,
         "common", json.dumps({"text": "Cliente prefere WhatsApp"})),
        (77000004, "leads", LEAD_WON, ADMIN, ADMIN, T - 900, T - 800, ADMIN, 0,
         "common", json.dumps({"text": "Contrato assinado"})),
    ])  # fmt: skip
    _insert(store, "unsorted", [
        ("uns-1", "src-1", "Formulário", "forms", SALES, T - 7000, LEAD_WON, "accepted", T - 6000),
        ("uns-2", None, "Telefonia", "sip", SALES, T - 6000, None, "declined", T - 5700),
        ("uns-3", None, "WhatsApp", "chats", SALES, T - 1000, LEAD_INCOMING, "pending", None),
        ("uns-4", None, "E-mail", "mail", PARTNERS, T - 500, None, "accepted", T - 300),
    ])  # fmt: skip
    _insert(store, "meta", [("seed", "0"), ("scale", "tiny")])
    return store
