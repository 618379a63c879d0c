//! The seeded generator behind [`Org::generate`](crate::Org::generate):
//! accounts, contacts, opportunities and contact roles with every field type
//! the fake org serves. Each record draws from its own random stream, so a
//! seed always gives the same org.

use std::borrow::Cow;

use crate::clock::{Days, Millis};
use crate::ids::make_id;
use crate::org::{GenSpec, Org};
use crate::schema::{self, Schema, EXPERIENCE, INDUSTRIES, SPECIALTIES};
use crate::store::{Scalar, Store};

/// 2023-01-01T00:00:00Z: generated records are created after it.
const EPOCH: Millis = 1_672_531_200_000;
const DAY: Millis = 86_400_000;

/// A small deterministic random stream (SplitMix64).
struct Rng(u64);

impl Rng {
    /// The stream of one record of one sobject under a seed.
    fn for_record(seed: u64, sobject: u64, n: usize) -> Rng {
        let mut rng = Rng(seed ^ (sobject << 56) ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `percent` in 100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIRST_NAMES: [&str; 24] = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Dorothy",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "Ivan",
    "Jean",
    "Ken",
    "Leslie",
    "Margaret",
    "Niklaus",
    "Olga",
    "Peter",
    "Radia",
    "Shafi",
    "Tim",
    "Ursula",
    "Vint",
    "Whitfield",
    "Zoë",
];
const LAST_NAMES: [&str; 24] = [
    "Lovelace",
    "Turing",
    "Liskov",
    "Shannon",
    "Vaughan",
    "Dijkstra",
    "Allen",
    "Hopper",
    "Lamarr",
    "Sutherland",
    "Sammet",
    "Thompson",
    "Lamport",
    "Hamilton",
    "Wirth",
    "Taussky",
    "Naur",
    "Perlman",
    "Goldwasser",
    "Berners-Lee",
    "Martin",
    "Cerf",
    "Diffie",
    "O'Brien",
];
const SALUTATIONS: [&str; 5] = ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."];
const COMPANY_WORDS: [&str; 16] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Gringotts",
    "Oceanic",
    "Massive",
    "Aperture",
];
const COMPANY_SUFFIXES: [&str; 6] = ["Inc.", "LLC", "Corp.", "Group", "Ltd.", "& Sons"];
const STREETS: [&str; 10] = [
    "Main St",
    "Oak Ave",
    "Pine Rd",
    "Market St",
    "Mission St",
    "Elm St",
    "Cedar Ln",
    "Maple Dr",
    "Lake Shore Dr",
    "Broadway",
];
const CITIES: [(&str, &str); 10] = [
    ("San Francisco", "CA"),
    ("New York", "NY"),
    ("Chicago", "IL"),
    ("Austin", "TX"),
    ("Seattle", "WA"),
    ("Boston", "MA"),
    ("Denver", "CO"),
    ("Portland", "OR"),
    ("Atlanta", "GA"),
    ("Miami", "FL"),
];
const TITLES: [&str; 6] = [
    "Engineer", "Manager", "Director", "VP Sales", "CTO", "Analyst",
];
const ACCOUNT_TYPES: [&str; 4] = [
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Other",
];
const ACCOUNT_INDUSTRIES: [&str; 10] = [
    "Agriculture",
    "Banking",
    "Education",
    "Energy",
    "Healthcare",
    "Media",
    "Retail",
    "Technology",
    "Transportation",
    "Utilities",
];
const LEAD_SOURCES: [&str; 5] = [
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
const STAGES: [(&str, f64); 10] = [
    ("Prospecting", 10.0),
    ("Qualification", 10.0),
    ("Needs Analysis", 20.0),
    ("Value Proposition", 50.0),
    ("Id. Decision Makers", 60.0),
    ("Perception Analysis", 70.0),
    ("Proposal/Price Quote", 75.0),
    ("Negotiation/Review", 90.0),
    ("Closed Won", 100.0),
    ("Closed Lost", 0.0),
];
const ROLES: [&str; 6] = [
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Evaluator",
    "Influencer",
    "Technical Buyer",
];

/// Builds the org a spec describes.
pub fn generate(spec: &GenSpec) -> Org {
    let pod = pod_for_seed(spec.seed);
    let mut store = Store::new(&pod);
    let ids = IdPlan::new(spec, &pod);
    let seed = spec.seed;
    fill(&mut store, seed, "Account", spec.accounts, |rng, n, b| {
        account(rng, n, b, &ids)
    });
    fill(&mut store, seed, "Contact", spec.contacts, |rng, n, b| {
        contact(rng, n, b, &ids)
    });
    fill(
        &mut store,
        seed,
        "Opportunity",
        spec.opportunities,
        |rng, n, b| opportunity(rng, n, b, &ids),
    );
    fill(
        &mut store,
        seed,
        "OpportunityContactRole",
        spec.contact_roles,
        |rng, n, b| contact_role(rng, n, b, &ids),
    );
    store.next_seq = ids.next_seq;
    Org { store }
}

/// Two id characters that differ between seeds.
fn pod_for_seed(seed: u64) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = Rng(seed);
    let a = LETTERS[rng.below(26)] as char;
    let b = LETTERS[rng.below(26)] as char;
    format!("{a}{b}")
}

/// Where each generated record's id comes from, so records can point at
/// ones generated later or earlier without a lookup.
struct IdPlan {
    pod: String,
    spec: GenSpec,
    next_seq: u64,
}

impl IdPlan {
    fn new(spec: &GenSpec, pod: &str) -> IdPlan {
        let total = spec.accounts + spec.contacts + spec.opportunities + spec.contact_roles;
        IdPlan {
            pod: pod.to_string(),
            spec: spec.clone(),
            next_seq: total as u64 + 1,
        }
    }

    /// The sequence number of the `n`-th record of the `kind`-th sobject
    /// (0 Account, 1 Contact, 2 Opportunity, 3 OpportunityContactRole).
    fn seq(&self, kind: usize, n: usize) -> u64 {
        let s = &self.spec;
        let before = [
            0,
            s.accounts,
            s.accounts + s.contacts,
            s.accounts + s.contacts + s.opportunities,
        ];
        (before[kind] + n + 1) as u64
    }

    fn id(&self, prefix: &str, kind: usize, n: usize) -> String {
        make_id(prefix, &self.pod, self.seq(kind, n))
    }

    fn account(&self, n: usize) -> String {
        self.id("001", 0, n)
    }

    fn contact(&self, n: usize) -> String {
        self.id("003", 1, n)
    }

    fn opportunity(&self, n: usize) -> String {
        self.id("006", 2, n)
    }
}

/// Collects one record's values by field name.
struct RecordBuilder<'s> {
    schema: &'s Schema,
    values: Vec<(usize, Scalar<'static>)>,
}

impl RecordBuilder<'_> {
    fn put(&mut self, name: &str, value: Scalar<'static>) {
        if let Some(field) = self.schema.field_index(name) {
            self.values.push((field, value));
        }
    }

    fn text(&mut self, name: &str, value: impl Into<Cow<'static, str>>) {
        self.put(name, Scalar::Text(value.into()));
    }

    fn maybe_text(&mut self, name: &str, value: Option<String>) {
        self.put(
            name,
            value.map_or(Scalar::Null, |v| Scalar::Text(Cow::Owned(v))),
        );
    }

    fn num(&mut self, name: &str, value: f64) {
        self.put(name, Scalar::Num(value));
    }

    /// Created, last modified and system modstamp, in that order in time.
    fn stamps(&mut self, rng: &mut Rng) {
        let created = EPOCH + rng.below(400) as Millis * DAY + rng.below(86_400) as Millis * 1000;
        let modified = created + rng.below(100 * 86_400) as Millis * 1000;
        let modstamp = if rng.chance(70) {
            modified
        } else {
            modified + rng.below(2 * 86_400) as Millis * 1000
        };
        self.put("CreatedDate", Scalar::DateTime(created));
        self.put("LastModifiedDate", Scalar::DateTime(modified));
        self.put("SystemModstamp", Scalar::DateTime(modstamp));
        let user = crate::org::default_user_id();
        for name in ["OwnerId", "CreatedById", "LastModifiedById"] {
            self.text(name, user.clone());
        }
    }

    /// A street address in the compound address with this prefix.
    fn address(&mut self, rng: &mut Rng, prefix: &str) {
        let (city, state) = CITIES[rng.below(CITIES.len())];
        self.text(
            format!("{prefix}Street").as_str(),
            format!("{} {}", 1 + rng.below(9999), rng.pick(&STREETS)),
        );
        self.text(format!("{prefix}City").as_str(), city);
        self.text(format!("{prefix}State").as_str(), state);
        self.text(
            format!("{prefix}PostalCode").as_str(),
            format!("{:05}", rng.below(99_999)),
        );
        self.text(format!("{prefix}Country").as_str(), "US");
    }
}

/// Generates `count` records of an sobject with `make`, which fills the
/// builder and returns the record's id.
fn fill<F>(store: &mut Store, seed: u64, sobject: &str, count: usize, make: F)
where
    F: Fn(&mut Rng, usize, &mut RecordBuilder<'_>) -> String,
{
    let kind = match sobject {
        "Account" => 1,
        "Contact" => 2,
        "Opportunity" => 3,
        _ => 4,
    };
    let Some(table) = store.table_mut(sobject) else {
        return;
    };
    let schema = table.schema.clone();
    for n in 0..count {
        let mut rng = Rng::for_record(seed, kind, n);
        let mut builder = RecordBuilder {
            schema: &schema,
            values: Vec::with_capacity(40),
        };
        let id = make(&mut rng, n, &mut builder);
        table.push(&id, &builder.values);
    }
}

fn company_name(rng: &mut Rng, n: usize) -> String {
    let word = rng.pick(&COMPANY_WORDS);
    format!("{word} {} {}", n + 1, rng.pick(&COMPANY_SUFFIXES))
}

fn phone(rng: &mut Rng) -> String {
    format!("({:03}) 555-{:04}", 200 + rng.below(800), rng.below(10_000))
}

fn account(rng: &mut Rng, n: usize, b: &mut RecordBuilder<'_>, ids: &IdPlan) -> String {
    let name = company_name(rng, n);
    let slug: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase();
    b.text("Name", name);
    b.text("Industry", rng.pick(&ACCOUNT_INDUSTRIES));
    b.text("Type", rng.pick(&ACCOUNT_TYPES));
    b.address(rng, "Billing");
    if rng.chance(85) {
        b.num("AnnualRevenue", (rng.below(500_000) as f64) * 1000.0);
    }
    b.num("NumberOfEmployees", (1 + rng.below(20_000)) as f64);
    b.text("Website", format!("https://www.{slug}.example.com"));
    b.text("Phone", phone(rng));
    b.stamps(rng);
    ids.account(n)
}

fn contact(rng: &mut Rng, n: usize, b: &mut RecordBuilder<'_>, ids: &IdPlan) -> String {
    let first = rng.pick(&FIRST_NAMES);
    let last = rng.pick(&LAST_NAMES);
    b.text("Salutation", rng.pick(&SALUTATIONS));
    b.text("FirstName", first);
    b.text("LastName", last);
    let email = rng.chance(90).then(|| {
        let local: String = format!("{first}.{last}")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        format!("{}{}@example.com", local.to_lowercase(), n + 1)
    });
    b.maybe_text("Email", email);
    b.text("Phone", phone(rng));
    b.text("Title", rng.pick(&TITLES));
    if rng.chance(80) {
        let days = -18_000 + rng.below(12_000) as Days;
        b.put("Birthdate", Scalar::Date(days));
    }
    if rng.chance(95) && ids.spec.accounts > 0 {
        b.text("AccountId", ids.account(rng.below(ids.spec.accounts)));
    }
    b.address(rng, "Mailing");
    if rng.chance(75) {
        b.text("LeadSource", rng.pick(&LEAD_SOURCES));
    }
    contact_custom_fields(rng, b);
    b.stamps(rng);
    ids.contact(n)
}

/// The custom fields the fake org adds to Contact.
fn contact_custom_fields(rng: &mut Rng, b: &mut RecordBuilder<'_>) {
    let experience = rng.below(4);
    b.text("Experience__c", EXPERIENCE[experience]);
    let specialties: Vec<&str> = SPECIALTIES
        .iter()
        .filter(|(_, valid)| valid.contains(&experience))
        .map(|(name, _)| *name)
        .collect();
    if rng.chance(80) {
        b.text("Specialty__c", rng.pick(&specialties));
    }
    let industries: Vec<&str> = INDUSTRIES
        .iter()
        .copied()
        .filter(|_| rng.chance(25))
        .collect();
    if !industries.is_empty() {
        b.text("Industries__c", industries.join(";"));
    }
    b.put("Newsletter__c", Scalar::Bool(rng.chance(40)));
    let score = rng.below(1001) as f64 / 10.0;
    b.num("Score__c", score);
    b.maybe_text(
        "Score_Band__c",
        schema::score_band(Some(score)).map(str::to_string),
    );
    if rng.chance(70) {
        let at = EPOCH + rng.below(500 * 86_400) as Millis * 1000;
        b.put("Last_Event__c", Scalar::DateTime(at));
    }
}

fn opportunity(rng: &mut Rng, n: usize, b: &mut RecordBuilder<'_>, ids: &IdPlan) -> String {
    let (stage, probability) = STAGES[rng.below(STAGES.len())];
    b.text(
        "Name",
        format!("Deal {} - {}", n + 1, rng.pick(&COMPANY_WORDS)),
    );
    if ids.spec.accounts > 0 {
        b.text("AccountId", ids.account(rng.below(ids.spec.accounts)));
    }
    b.text("StageName", stage);
    b.num("Probability", probability);
    if rng.chance(90) {
        b.num("Amount", (1 + rng.below(2_000)) as f64 * 250.0);
    }
    let close = 19_358 + rng.below(730) as Days;
    b.put("CloseDate", Scalar::Date(close));
    b.put("IsClosed", Scalar::Bool(stage.starts_with("Closed")));
    b.put("IsWon", Scalar::Bool(stage == "Closed Won"));
    b.put("IsPrivate", Scalar::Bool(false));
    b.text("LeadSource", rng.pick(&LEAD_SOURCES));
    b.stamps(rng);
    ids.opportunity(n)
}

fn contact_role(rng: &mut Rng, n: usize, b: &mut RecordBuilder<'_>, ids: &IdPlan) -> String {
    if ids.spec.contacts > 0 {
        b.text("ContactId", ids.contact(rng.below(ids.spec.contacts)));
    }
    if ids.spec.opportunities > 0 {
        b.text(
            "OpportunityId",
            ids.opportunity(rng.below(ids.spec.opportunities)),
        );
    }
    b.text("Role", rng.pick(&ROLES));
    b.put("IsPrimary", Scalar::Bool(rng.chance(20)));
    b.stamps(rng);
    ids.id("00K", 3, n)
}
