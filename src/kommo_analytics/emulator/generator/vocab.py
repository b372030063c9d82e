"""pt-BR word lists for the synthetic account.

Kept free of double quotes and backslashes: several of these strings are spliced into JSON by
SQL string concatenation, where escaping would cost a function call per row.
"""

from __future__ import annotations

FIRST_NAMES: tuple[str, ...] = (
    "Ana", "Beatriz", "Camila", "Daniela", "Eduarda", "Fernanda", "Gabriela", "Helena",
    "Isabela", "Juliana", "Larissa", "Letícia", "Mariana", "Natália", "Patrícia", "Rafaela",
    "Renata", "Sabrina", "Tatiane", "Vanessa", "Aline", "Bruna", "Carolina", "Débora",
    "Elaine", "Flávia", "Giovana", "Ingrid", "Jéssica", "Kátia", "Luana", "Márcia",
    "Priscila", "Raquel", "Simone", "Tânia", "Valéria", "Yasmin", "Luíza", "Sofia",
    "Alice", "Manuela", "Cecília", "Lorena", "Lívia", "Clara", "Vitória", "Adriana",
    "Sandra", "Cristiane", "André", "Bruno", "Carlos", "Daniel", "Eduardo", "Felipe",
    "Gabriel", "Gustavo", "Henrique", "Igor", "João", "José", "Leonardo", "Lucas",
    "Marcelo", "Mateus", "Nicolas", "Otávio", "Paulo", "Pedro", "Rafael", "Ricardo",
    "Rodrigo", "Samuel", "Thiago", "Vinícius", "Wagner", "Alexandre", "Antônio", "Caio",
    "Diego", "Fábio", "Fernando", "Guilherme", "Hugo", "Luiz", "Márcio", "Maurício",
    "Murilo", "Renato", "Sérgio", "Vítor", "Heitor", "Davi", "Arthur", "Bernardo",
    "Miguel", "Enzo", "Leandro", "Roberto",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
    "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes",
    "Soares", "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade",
    "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos",
    "Gonçalves", "Santana", "Teixeira", "Araújo", "Pinto", "Correia", "Cavalcanti", "Monteiro",
    "Moura", "Campos", "Batista", "Azevedo", "Cunha", "Barros", "Farias", "Pires",
    "Castro", "Rezende", "Borges", "Fonseca", "Sampaio", "Brito", "Queiroz", "Tavares",
    "Prado", "Siqueira", "Bezerra", "Guimarães",
)  # fmt: skip

# Account names: "<prefix> <core> <suffix>", e.g. "Soluções Aurora Ltda".
ACCOUNT_PREFIXES: tuple[str, ...] = (
    "Soluções", "Grupo", "Tecnologia", "Consultoria", "Sistemas", "Serviços", "Comercial",
    "Distribuidora",
)  # fmt: skip
ACCOUNT_CORES: tuple[str, ...] = (
    "Aurora", "Horizonte", "Atlântico", "Ipê", "Jacarandá", "Cerrado", "Guanabara", "Tropical",
    "Ventura", "Boa Vista", "Primavera", "Araucária", "Pantanal", "Mantiqueira", "Itapuã",
    "Sabiá", "Carnaúba", "Maracanã", "Paraty", "Jequitibá",
)  # fmt: skip
ACCOUNT_SUFFIXES: tuple[str, ...] = ("Ltda", "S.A.", "Ltda", "ME", "Ltda", "EIRELI")

# Client companies: "<kind> <core>[ <suffix>]".
COMPANY_KINDS: tuple[str, ...] = (
    "Padaria", "Clínica", "Auto Peças", "Farmácia", "Escola", "Academia", "Construtora",
    "Imobiliária", "Restaurante", "Mercado", "Transportadora", "Oficina", "Escritório",
    "Agência", "Laboratório", "Pet Shop", "Ótica", "Hotel", "Pousada", "Loja",
    "Distribuidora", "Indústria", "Contabilidade", "Advocacia", "Odontologia",
)  # fmt: skip
COMPANY_CORES: tuple[str, ...] = (
    "Bom Gosto", "São Jorge", "Santa Clara", "Nova Era", "Bela Vista", "Sol Nascente",
    "Estrela", "Vitória", "Primavera", "Central", "Paulista", "Carioca", "Mineira",
    "Gaúcha", "Nordeste", "Serra Azul", "Rio Claro", "Boa Esperança", "Alvorada",
    "Progresso", "Horizonte", "Aliança", "Futura", "Ideal", "Modelo", "União", "Vale Verde",
    "Litoral", "Cristal", "Porto Seguro", "Jardim", "Sorriso", "Ponto Certo", "Brasil",
    "Arco-Íris", "Três Irmãos", "Família", "Real", "Imperial", "Capital",
)  # fmt: skip
COMPANY_SUFFIXES: tuple[str, ...] = ("Ltda", "ME", "S.A.", "EPP", "")

GROUP_NAMES: tuple[str, ...] = ("Inside Sales", "Field Sales")

LOSS_REASONS: tuple[str, ...] = (
    "Preço alto", "Sem orçamento", "Escolheu concorrente", "Sem resposta",
    "Timing inadequado", "Não era o perfil", "Contato inválido ou duplicado",
    "Desistiu da compra",
)  # fmt: skip
# Loss reasons by where the deal died: early stages lose to silence, late ones to money.
LOSS_WEIGHTS_EARLY: tuple[float, ...] = (0.05, 0.08, 0.05, 0.38, 0.10, 0.22, 0.07, 0.05)
LOSS_WEIGHTS_LATE: tuple[float, ...] = (0.30, 0.17, 0.22, 0.07, 0.12, 0.02, 0.00, 0.10)
LOSS_DECLINED = 6  # declined incoming leads: "Contato inválido ou duplicado"

PRODUCTS: tuple[tuple[str, float], ...] = (
    # (enum value, median price of one unit in BRL)
    ("Plano Básico", 1_900.0),
    ("Plano Profissional", 4_300.0),
    ("Plano Empresarial", 9_800.0),
    ("Consultoria", 6_500.0),
    ("Implantação", 3_500.0),
    ("Treinamento", 2_200.0),
)
PRODUCT_WEIGHTS: tuple[float, ...] = (0.30, 0.30, 0.12, 0.10, 0.10, 0.08)

LEAD_TAGS: tuple[str, ...] = (
    "indicação", "prospecção", "black friday", "urgente", "evento", "webinar", "whatsapp",
    "recompra",
)  # fmt: skip
TAG_REFERRAL, TAG_OUTBOUND, TAG_BLACK_FRIDAY, TAG_URGENT, TAG_EVENT, TAG_WEBINAR = range(6)
TAG_WHATSAPP, TAG_REPURCHASE = 6, 7
CONTACT_TAGS: tuple[str, ...] = ("decisor", "cliente", "vip", "newsletter")
TAG_COLORS: tuple[str | None, ...] = (None, "#ffdc7f", "#98cbff", "#ff8f92", None, "#87f2c0")

TASK_TEXTS_FOLLOW_UP: tuple[str, ...] = (
    "Fazer primeiro contato", "Retornar ligação", "Ligar para o cliente",
    "Confirmar interesse", "Cobrar retorno da proposta", "Enviar mensagem no WhatsApp",
    "Verificar andamento", "Retomar contato",
)  # fmt: skip
TASK_TEXTS_MEETING: tuple[str, ...] = (
    "Reunião de apresentação", "Demonstração do sistema", "Reunião de alinhamento",
    "Visita ao cliente",
)  # fmt: skip
TASK_TEXTS_PROPOSAL: tuple[str, ...] = (
    "Enviar proposta comercial", "Revisar proposta", "Enviar contrato para assinatura",
)  # fmt: skip
TASK_RESULTS: tuple[str, ...] = (
    "Cliente pediu retorno na semana que vem", "Proposta enviada por e-mail",
    "Não atendeu, tentar novamente", "Reunião confirmada", "Cliente vai avaliar com o sócio",
    "Enviado material por WhatsApp", "Contato realizado com sucesso",
    "Cliente solicitou desconto", "Aguardando aprovação do financeiro", "Sem interesse no momento",
)  # fmt: skip

COMMON_NOTES: tuple[str, ...] = (
    "Cliente solicitou desconto para pagamento à vista.",
    "Decisor é o sócio, marcar reunião com os dois.",
    "Usa planilhas hoje, quer automatizar o atendimento.",
    "Pediu para ligar depois das 14h.",
    "Já teve contato com o concorrente, achou caro.",
    "Interesse em integração com WhatsApp.",
    "Orçamento aprovado para o próximo trimestre.",
    "Enviei o link da demonstração gravada.",
    "Empresa com 12 vendedores, potencial de expansão.",
    "Cliente indicado por parceiro, dar prioridade.",
    "Pagamento via Pix confirmado pelo financeiro.",
    "Contrato enviado para assinatura digital.",
)  # fmt: skip
SMS_TEXTS: tuple[str, ...] = (
    "Olá! Tentamos falar com você sobre sua solicitação. Podemos ligar hoje?",
    "Sua proposta foi enviada por e-mail. Qualquer dúvida, estamos à disposição.",
    "Lembrete: nossa reunião está confirmada para amanhã.",
)  # fmt: skip

CALL_SOURCES: tuple[str, ...] = ("Zenvia Voz", "3CX", "GoTo Connect", "Kommo VoIP")
CALL_RESULTS_ANSWERED: tuple[str, ...] = (
    "Conversa realizada", "Cliente interessado", "Agendou reunião", "Pediu proposta",
    "Retornar depois",
)  # fmt: skip
# call_status codes (docs/kommo-api.md §7.8): 3 not available, 6 no answer, 7 busy, 1 voicemail.
CALL_UNANSWERED: tuple[tuple[int, str], ...] = (
    (6, "Não atendeu"), (7, "Ocupado"), (3, "Fora de área"), (1, "Caixa postal"),
)  # fmt: skip
PHONE_DDDS: tuple[int, ...] = (11, 11, 11, 21, 21, 31, 41, 51, 61, 71, 81, 85, 19, 27, 48, 62)

# Campaign and ad vocabularies for the tracking fields.
GOOGLE_CAMPAIGNS: tuple[str, ...] = (
    "brand_search", "generic_search", "concorrentes_search", "remarketing_display",
    "pmax_leads",
)  # fmt: skip
GOOGLE_TERMS: tuple[str, ...] = (
    "crm para pequenas empresas", "software de vendas", "sistema de gestão comercial",
    "crm whatsapp", "funil de vendas online", "crm gratuito", "automação de vendas",
)  # fmt: skip
META_CAMPAIGNS: tuple[str, ...] = (
    "leadads_plano_basico", "leadads_plano_pro", "lookalike_clientes", "remarketing_site",
    "reels_awareness", "stories_leads",
)  # fmt: skip
AD_CONTENTS: tuple[str, ...] = (
    "anuncio_a", "anuncio_b", "carrossel_01", "video_depoimento", "banner_topo", "cta_whatsapp",
)  # fmt: skip
PARTNER_SITES: tuple[str, ...] = (
    "blogdovendedor.com.br", "portalpme.com.br", "contabilizei.com.br", "sebrae.com.br",
)  # fmt: skip

# Extra lead fields (name, type, enum values or None): they exist so that the custom-fields list
# is longer than one page of 50; leads leave them empty.
EXTRA_LEAD_FIELDS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("CPF/CNPJ", "text", None),
    ("Segmento", "select", ("Varejo", "Indústria", "Serviços", "Saúde", "Educação", "Tecnologia", "Agronegócio")),
    ("Porte da empresa", "select", ("MEI", "Microempresa", "Pequena", "Média", "Grande")),
    ("Número de funcionários", "numeric", None),
    ("Faturamento anual", "monetary", None),
    ("Cidade", "text", None),
    ("Estado", "select", ("SP", "RJ", "MG", "PR", "RS", "SC", "BA", "PE", "CE", "GO", "DF", "ES")),
    ("Site", "url", None),
    ("Data da proposta", "date", None),
    ("Data da reunião", "date_time", None),
    ("Previsão de fechamento", "date", None),
    ("Concorrente", "select", ("RD Station", "Pipedrive", "HubSpot", "Agendor", "Outro")),
    ("Motivo da compra", "textarea", None),
    ("Forma de pagamento", "select", ("Boleto", "Pix", "Cartão de crédito", "Transferência")),
    ("Parcelas", "numeric", None),
    ("Desconto (%)", "numeric", None),
    ("Contrato assinado", "checkbox", None),
    ("Link da proposta", "url", None),
    ("Observações", "textarea", None),
    ("Como nos conheceu", "select", ("Google", "Instagram", "Indicação", "Evento", "Outro")),
    ("SDR responsável", "text", None),
    ("Prioridade", "radiobutton", ("Alta", "Média", "Baixa")),
    ("Interesses", "multiselect", ("Automação", "Relatórios", "WhatsApp", "Telefonia", "API")),
    ("Aniversário do decisor", "birthday", None),
    ("Endereço", "streetaddress", None),
    ("Inscrição estadual", "text", None),
    ("Razão social", "text", None),
    ("Nome fantasia", "text", None),
    ("Ticket médio mensal", "monetary", None),
    ("Plano atual", "select", ("Nenhum", "Básico", "Profissional", "Empresarial")),
    ("Data de início do contrato", "date", None),
    ("Data de renovação", "date", None),
    ("Vigência (meses)", "numeric", None),
    ("NPS", "numeric", None),
    ("Canal preferido", "select", ("WhatsApp", "Telefone", "E-mail")),
    ("Horário para contato", "text", None),
    ("Campanha interna", "text", None),
    ("Evento", "text", None),
    ("Cupom", "text", None),
    ("ID do pedido", "text", None),
    ("Nota fiscal emitida", "checkbox", None),
    ("Número da NF", "text", None),
    ("Data de pagamento", "date", None),
    ("Valor de implantação", "monetary", None),
    ("Treinamento incluso", "checkbox", None),
    ("Usuários contratados", "numeric", None),
    ("Integrações", "multiselect", ("ERP", "E-commerce", "WhatsApp", "Telefonia")),
    ("Cargo do decisor", "text", None),
    ("LinkedIn", "url", None),
    ("Região", "select", ("Norte", "Nordeste", "Centro-Oeste", "Sudeste", "Sul")),
    ("Temperatura", "select", ("Fria", "Morna", "Quente")),
    ("Próximo passo", "textarea", None),
)  # fmt: skip

STAGE_COLORS: tuple[str, ...] = (
    "#99ccff", "#ffff99", "#ffcc66", "#ffcccc", "#ccff66", "#98cbff", "#fffd7f", "#ffdc7f",
    "#87f2c0", "#f3beff", "#ccc8f9", "#deff81",
)  # fmt: skip

# Service notes an integration writes when it creates a lead, by unsorted category
# (forms, chats, sip, mail): (service name, text).
SERVICE_NOTES: tuple[tuple[str, str], ...] = (
    ("Formulário do site", "Lead criado a partir do formulário do site"),
    ("WhatsApp Business", "Lead criado a partir de uma conversa"),
    ("Telefonia", "Lead criado a partir de uma chamada recebida"),
    ("Kommo Mail", "Lead criado a partir de um e-mail recebido"),
)
MAIL_SUBJECTS: tuple[str, ...] = (
    "Proposta comercial", "Dúvida sobre planos", "Re: Orçamento solicitado",
    "Agendamento de demonstração", "Contrato para assinatura", "Re: Condições de pagamento",
)  # fmt: skip

# Tracking codes real accounts carry beyond the standard eight (docs/kommo-api.md §7.11), and the
# pool each account draws its own codes from (forms and landing pages send whatever the site
# defines).
EXTRA_TRACKING_CODES: tuple[str, ...] = (
    "UTM_REFERRER", "YCLID", "GCLIENTID", "ROISTAT", "_YM_UID", "OPENSTAT_SERVICE",
    "OPENSTAT_CAMPAIGN", "FROM",
)  # fmt: skip
ACCOUNT_TRACKING_CODES: tuple[str, ...] = (
    "SOURCE_PAGE", "SOURCE_DOMAIN", "LANDING_PAGE", "FORM_NAME", "CLIENT_ID", "UTM_ID",
)  # fmt: skip
LANDING_PATHS: tuple[str, ...] = (
    "/", "/planos", "/contato", "/demonstracao", "/blog/automacao-de-vendas", "/lp/black-friday",
)  # fmt: skip
FORM_NAMES: tuple[str, ...] = (
    "Fale conosco", "Solicite uma demonstração", "Orçamento", "Newsletter", "Trabalhe conosco",
)  # fmt: skip
