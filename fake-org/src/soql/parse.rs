//! The SOQL grammar the fake org accepts, as a recursive-descent parser
//! producing a syntax tree that still holds names as written.

use super::lex::{lex, Tok, Token};
use super::SoqlError;

/// A name as written, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub text: String,
    pub pos: usize,
}

/// A field path: `Email`, `Account.Name`, `Account.Owner.Name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub parts: Vec<Name>,
}

impl Path {
    pub fn pos(&self) -> usize {
        self.parts[0].pos
    }
}

/// One item of a SELECT list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    Path(Path),
    Count(usize),
    Subquery(Box<Query>),
    /// A function of a field: `COUNT(Id)`, `CALENDAR_MONTH(CreatedDate)`;
    /// the name upper-cased.
    Func {
        name: Name,
        arg: Path,
    },
}

/// The functions of a field the fake org knows.
const FUNCTIONS: [&str; 5] = ["COUNT", "MIN", "MAX", "CALENDAR_YEAR", "CALENDAR_MONTH"];

/// A literal value in a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Num(f64),
    /// Source text between the quotes, escapes undecoded.
    Str(String),
    DateTime(String),
}

/// A literal and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Lit {
    pub value: Literal,
    pub pos: usize,
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        path: Path,
        op: &'static str,
        lit: Lit,
    },
    Like {
        path: Path,
        pattern: Lit,
        negated: bool,
    },
    In {
        path: Path,
        list: Vec<Lit>,
        negated: bool,
    },
    Includes {
        path: Path,
        list: Vec<Lit>,
        excludes: bool,
    },
}

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub path: Path,
    pub descending: bool,
    pub nulls_last: bool,
}

/// A parsed SELECT statement (or child subquery).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Vec<SelectItem>,
    pub from: Name,
    pub filter: Option<Expr>,
    /// GROUP BY items: field paths or functions of one.
    pub group: Vec<SelectItem>,
    pub order: Vec<OrderKey>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// Words that end a path or a clause and so cannot be field names.
const RESERVED: [&str; 21] = [
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "LIKE", "IN", "INCLUDES", "EXCLUDES", "ORDER",
    "BY", "LIMIT", "OFFSET", "NULLS", "ASC", "DESC", "NULL", "TRUE", "FALSE", "GROUP",
];

/// Parses a whole SOQL statement.
pub fn parse(text: &str) -> Result<Query, SoqlError> {
    let mut parser = Parser {
        tokens: lex(text)?,
        at: 0,
    };
    let query = parser.query()?;
    parser.expect_end()?;
    Ok(query)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn unexpected(&self) -> SoqlError {
        let token = self.peek();
        SoqlError::new(
            "MALFORMED_QUERY",
            token.pos,
            format!("unexpected token: {}", token.describe()),
        )
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(word))
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.is_keyword(word);
        if found {
            self.bump();
        }
        found
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), SoqlError> {
        if self.eat_keyword(word) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect(&mut self, tok: Tok) -> Result<(), SoqlError> {
        if self.peek().tok == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_end(&mut self) -> Result<(), SoqlError> {
        match self.peek().tok {
            Tok::Eof => Ok(()),
            _ => Err(self.unexpected()),
        }
    }

    /// `SELECT items FROM name [WHERE] [GROUP BY] [ORDER BY] [LIMIT] [OFFSET]`
    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_keyword("SELECT")?;
        let select = self.select_list()?;
        self.expect_keyword("FROM")?;
        let from = self.name()?;
        let filter = if self.eat_keyword("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        let group = self.group_by()?;
        let order = self.order_by()?;
        let limit = self.count_clause("LIMIT")?;
        let offset = self.count_clause("OFFSET")?;
        Ok(Query {
            select,
            from,
            filter,
            group,
            order,
            limit,
            offset,
        })
    }

    /// One or more of `item`, separated by commas.
    fn comma_list<T>(
        &mut self,
        item: fn(&mut Parser) -> Result<T, SoqlError>,
    ) -> Result<Vec<T>, SoqlError> {
        let mut items = vec![item(self)?];
        while self.peek().tok == Tok::Comma {
            self.bump();
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn group_by(&mut self) -> Result<Vec<SelectItem>, SoqlError> {
        if !self.eat_keyword("GROUP") {
            return Ok(Vec::new());
        }
        self.expect_keyword("BY")?;
        self.comma_list(Parser::field_item)
    }

    fn select_list(&mut self) -> Result<Vec<SelectItem>, SoqlError> {
        self.comma_list(Parser::select_item)
    }

    fn select_item(&mut self) -> Result<SelectItem, SoqlError> {
        if self.peek().tok == Tok::LParen {
            self.bump();
            let sub = self.query()?;
            self.expect(Tok::RParen)?;
            return Ok(SelectItem::Subquery(Box::new(sub)));
        }
        let pos = self.peek().pos;
        if self.is_keyword("COUNT")
            && self.tokens.get(self.at + 1).map(|t| &t.tok) == Some(&Tok::LParen)
            && self.tokens.get(self.at + 2).map(|t| &t.tok) == Some(&Tok::RParen)
        {
            self.bump();
            self.bump();
            self.bump();
            return Ok(SelectItem::Count(pos));
        }
        self.field_item()
    }

    /// A field path, or a known function of one.
    fn field_item(&mut self) -> Result<SelectItem, SoqlError> {
        let token = self.peek().clone();
        let called = self.tokens.get(self.at + 1).map(|t| &t.tok) == Some(&Tok::LParen);
        if let (Tok::Ident(word), true) = (&token.tok, called) {
            let Some(function) = FUNCTIONS.iter().find(|f| f.eq_ignore_ascii_case(word)) else {
                return Err(self.unexpected());
            };
            self.bump();
            self.bump();
            let arg = self.path()?;
            self.expect(Tok::RParen)?;
            let name = Name {
                text: function.to_string(),
                pos: token.pos,
            };
            return Ok(SelectItem::Func { name, arg });
        }
        Ok(SelectItem::Path(self.path()?))
    }

    /// A name that is not a reserved word.
    fn name(&mut self) -> Result<Name, SoqlError> {
        let token = self.peek().clone();
        match token.tok {
            Tok::Ident(text) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&text)) => {
                self.bump();
                Ok(Name {
                    text,
                    pos: token.pos,
                })
            }
            _ => Err(self.unexpected()),
        }
    }

    fn path(&mut self) -> Result<Path, SoqlError> {
        let mut parts = vec![self.name()?];
        while self.peek().tok == Tok::Dot {
            self.bump();
            parts.push(self.name()?);
        }
        Ok(Path { parts })
    }

    /// Conditions joined by one kind of connector; Salesforce refuses AND
    /// and OR mixed without parentheses.
    fn expr(&mut self) -> Result<Expr, SoqlError> {
        let first = self.unary()?;
        let connector = if self.is_keyword("AND") {
            "AND"
        } else if self.is_keyword("OR") {
            "OR"
        } else {
            return Ok(first);
        };
        let mut terms = vec![first];
        while self.eat_keyword(connector) {
            terms.push(self.unary()?);
        }
        if self.is_keyword("AND") || self.is_keyword("OR") {
            return Err(self.unexpected());
        }
        Ok(if connector == "AND" {
            Expr::And(terms)
        } else {
            Expr::Or(terms)
        })
    }

    fn unary(&mut self) -> Result<Expr, SoqlError> {
        if self.eat_keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek().tok == Tok::LParen {
            self.bump();
            let inner = self.expr()?;
            self.expect(Tok::RParen)?;
            return Ok(inner);
        }
        self.condition()
    }

    /// `path op literal`, `path [NOT] LIKE 'p'`, `path [NOT] IN (...)`,
    /// `path INCLUDES (...)`, `path EXCLUDES (...)`.
    fn condition(&mut self) -> Result<Expr, SoqlError> {
        let path = self.path()?;
        if let Tok::Op(op) = self.peek().tok {
            self.bump();
            let lit = self.literal()?;
            return Ok(Expr::Compare { path, op, lit });
        }
        let negated = self.eat_keyword("NOT");
        if self.eat_keyword("LIKE") {
            let pattern = self.literal()?;
            return Ok(Expr::Like {
                path,
                pattern,
                negated,
            });
        }
        if self.eat_keyword("IN") {
            let list = self.literal_list()?;
            return Ok(Expr::In {
                path,
                list,
                negated,
            });
        }
        if !negated && (self.is_keyword("INCLUDES") || self.is_keyword("EXCLUDES")) {
            let excludes = self.is_keyword("EXCLUDES");
            self.bump();
            let list = self.literal_list()?;
            return Ok(Expr::Includes {
                path,
                list,
                excludes,
            });
        }
        Err(self.unexpected())
    }

    fn literal_list(&mut self) -> Result<Vec<Lit>, SoqlError> {
        self.expect(Tok::LParen)?;
        let list = self.comma_list(Parser::literal)?;
        self.expect(Tok::RParen)?;
        Ok(list)
    }

    fn literal(&mut self) -> Result<Lit, SoqlError> {
        let token = self.peek().clone();
        let value = match token.tok {
            Tok::Str(raw) => Literal::Str(raw),
            Tok::Num(n) => Literal::Num(n),
            Tok::DateTime(text) => Literal::DateTime(text),
            Tok::Ident(word) if word.eq_ignore_ascii_case("NULL") => Literal::Null,
            Tok::Ident(word) if word.eq_ignore_ascii_case("TRUE") => Literal::Bool(true),
            Tok::Ident(word) if word.eq_ignore_ascii_case("FALSE") => Literal::Bool(false),
            _ => return Err(self.unexpected()),
        };
        self.bump();
        Ok(Lit {
            value,
            pos: token.pos,
        })
    }

    fn order_by(&mut self) -> Result<Vec<OrderKey>, SoqlError> {
        if !self.eat_keyword("ORDER") {
            return Ok(Vec::new());
        }
        self.expect_keyword("BY")?;
        self.comma_list(Parser::order_key)
    }

    fn order_key(&mut self) -> Result<OrderKey, SoqlError> {
        let path = self.path()?;
        let descending = if self.eat_keyword("DESC") {
            true
        } else {
            self.eat_keyword("ASC");
            false
        };
        let mut nulls_last = false;
        if self.eat_keyword("NULLS") {
            nulls_last = if self.eat_keyword("LAST") {
                true
            } else {
                self.expect_keyword("FIRST")?;
                false
            };
        }
        Ok(OrderKey {
            path,
            descending,
            nulls_last,
        })
    }

    fn count_clause(&mut self, word: &str) -> Result<Option<usize>, SoqlError> {
        if !self.eat_keyword(word) {
            return Ok(None);
        }
        match self.peek().tok {
            Tok::Num(n) if n >= 0.0 && n.fract() == 0.0 => {
                self.bump();
                Ok(Some(n as usize))
            }
            _ => Err(self.unexpected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_sync_query() {
        let q = parse(
            "SELECT Id, Account.Name, (SELECT Role FROM OpportunityContactRoles) \
             FROM Contact WHERE (SystemModstamp > 2024-01-01T00:00:00Z OR Id > '003') \
             AND Email != null ORDER BY SystemModstamp DESC NULLS LAST, Id LIMIT 10",
        )
        .unwrap();
        assert_eq!(q.select.len(), 3);
        assert_eq!(q.order.len(), 2);
        assert!(q.order[0].descending && q.order[0].nulls_last);
        assert_eq!(q.limit, Some(10));
    }

    #[test]
    fn parses_an_aggregate_query() {
        let q = parse(
            "SELECT CALENDAR_YEAR(SystemModstamp), calendar_month(SystemModstamp), COUNT(Id) \
             FROM Contact GROUP BY CALENDAR_YEAR(SystemModstamp), CALENDAR_MONTH(SystemModstamp)",
        )
        .unwrap();
        assert_eq!(q.select.len(), 3);
        assert_eq!(q.group.len(), 2);
        assert!(
            matches!(&q.select[1], SelectItem::Func { name, .. } if name.text == "CALENDAR_MONTH")
        );
        let err = parse("SELECT WEEK_IN_YEAR(CreatedDate) FROM Contact").unwrap_err();
        assert_eq!(err.code, "MALFORMED_QUERY");
    }

    #[test]
    fn refuses_mixed_connectors() {
        let err = parse("SELECT Id FROM Contact WHERE A = 1 AND B = 2 OR C = 3").unwrap_err();
        assert_eq!(err.code, "MALFORMED_QUERY");
        assert_eq!(err.detail, "unexpected token: 'OR'");
    }
}
