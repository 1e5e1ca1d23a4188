//! What the two report pages share ([`super::page`], a sequential divergence;
//! [`super::concurrent_page`], a rejected concurrent run): escaping, the style sheet, the
//! document's head and header, and the extent maps (each io tree's records as bars over the file
//! offset, two snapshots per row pair, a record only one of them has outlined).

use super::plots::{self, MapRow};
use delalloc_contract::{Bits, Record, Snapshot};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Text made safe inside HTML elements and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The document up to its header: the doctype, the title, the style sheet, `<body>`.
pub fn begin(page: &mut String, title: &str) {
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>delalloc-fuzz: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(title)
    );
}

/// The header: the title, the headline, a line of models and source (`models`, HTML already)
/// and the links to the sections (`(id, name)`).
pub fn header(page: &mut String, title: &str, headline: &str, models: &str, nav: &[(&str, &str)]) {
    let _ = write!(
        page,
        "<header>\n<h1>{}</h1>\n<p class=\"headline\">{}</p>\n<p class=\"models\">{models}</p>\n<nav>",
        esc(title),
        esc(headline)
    );
    let links: Vec<String> = nav
        .iter()
        .map(|(id, name)| format!("<a href=\"#{id}\">{}</a>", esc(name)))
        .collect();
    page.push_str(&links.join(" "));
    page.push_str("</nav>\n</header>\n");
}

/// The end of the document.
pub fn end(page: &mut String) {
    page.push_str("</body>\n</html>\n");
}

/// An io tree of a snapshot: the stand-alone tree or an inode's.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Tree,
    Inode(usize),
}

impl Owner {
    fn records(self, s: &Snapshot) -> &[Record] {
        match self {
            Owner::Tree => &s.tree.records,
            Owner::Inode(i) => s.inodes.get(i).map_or(&[], |n| &n.records),
        }
    }

    fn name(self) -> String {
        match self {
            Owner::Tree => "the stand-alone extent tree (tree ops)".into(),
            Owner::Inode(i) => format!("inode {i}'s io tree"),
        }
    }
}

/// Two snapshots drawn as a pair of rows of the extent maps: `label · left name` above,
/// `label · right name` below, on a red band when `marked`.
pub struct MapState<'a> {
    pub label: String,
    pub left: &'a Snapshot,
    pub right: &'a Snapshot,
    pub marked: bool,
}

/// One figure per io tree that has records in any of `states` (the stand-alone tree, each
/// inode), after the note (HTML) and a legend of the bits; `names` are the left and right rows'
/// names.
pub fn extent_maps(
    page: &mut String,
    states: &[MapState<'_>],
    (left_name, right_name): (&str, &str),
    note: &str,
) -> Result<(), String> {
    let mut owners = BTreeSet::new();
    let mut bits = Bits::NONE;
    for st in states {
        for s in [st.left, st.right] {
            if !s.tree.records.is_empty() {
                owners.insert(Owner::Tree);
            }
            for (i, n) in s.inodes.iter().enumerate() {
                if !n.records.is_empty() {
                    owners.insert(Owner::Inode(i));
                }
            }
            let all = s
                .tree
                .records
                .iter()
                .chain(s.inodes.iter().flat_map(|n| &n.records));
            bits = all.fold(bits, |b, r| b.union(r.bits));
        }
    }
    if owners.is_empty() {
        page.push_str("<p class=\"note\">No extent records in any of these states.</p>\n");
        return Ok(());
    }
    let _ = write!(
        page,
        "<p class=\"note\">{note} A record only one side has is <span class=\"outlined\">\
         outlined in black</span>. Each bit of a record is a stripe of its colour; records are \
         drawn at least 3 pixels wide.</p>\n<p class=\"legend\">"
    );
    for b in plots::single_bits(bits) {
        let _ = write!(
            page,
            "<span class=\"swatch\" style=\"background:{}\"></span>{} ",
            plots::hex(plots::bit_colour(b)),
            esc(&b.to_string())
        );
    }
    page.push_str("</p>\n");
    for owner in owners {
        let xmax = states
            .iter()
            .flat_map(|st| [st.left, st.right])
            .flat_map(|s| owner.records(s))
            .map(|r| r.end.saturating_add(1))
            .max()
            .unwrap_or(1);
        let mut rows = Vec::with_capacity(states.len() * 2);
        for st in states {
            let (l, r) = (owner.records(st.left), owner.records(st.right));
            let tag = |name: &str| format!("{} · {name}", st.label);
            rows.push(MapRow {
                label: tag(left_name),
                records: l.iter().map(|x| (*x, !r.contains(x))).collect(),
                diverged: st.marked,
                first_of_op: true,
            });
            rows.push(MapRow {
                label: tag(right_name),
                records: r.iter().map(|x| (*x, !l.contains(x))).collect(),
                diverged: st.marked,
                first_of_op: false,
            });
        }
        let svg = plots::extent_map(&rows, xmax, 1300)?;
        let _ = write!(
            page,
            "<figure class=\"map\">\n<figcaption>{}</figcaption>\n{svg}\n</figure>\n",
            esc(&owner.name())
        );
    }
    Ok(())
}

/// The pages' style sheet.
const CSS: &str = "
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1360px; padding: 0 20px 40px; color: #222; }
header { border-bottom: 2px solid #c00000; margin-bottom: 12px; }
h1 { font-size: 22px; margin: 18px 0 6px; }
h2 { font-size: 18px; margin: 26px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 14px 0 6px; }
.headline { font-family: ui-monospace, monospace; font-size: 13px; background: #fff4f4; padding: 6px 8px; }
.models { color: #555; }
nav a { margin-right: 14px; }
code { font-family: ui-monospace, monospace; font-size: 13px; }
.kind { background: #c00000; color: white; padding: 1px 6px; border-radius: 3px; font-size: 13px; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
table.fields td:first-child { white-space: nowrap; }
table.program tr.diverging td { background: #fde0e0; font-weight: bold; }
table.program tr.diverging td.mark { color: #c00000; }
table.program tr.not-run td { color: #999; }
td.differs { color: #c00000; }
.note { color: #444; font-size: 14px; }
.legend { font-size: 13px; }
.swatch { display: inline-block; width: 14px; height: 12px; margin: 0 4px 0 10px; vertical-align: middle; border: 1px solid #0003; }
.outlined { outline: 3px solid black; padding: 0 3px; }
.solid, .dashed { display: inline-block; width: 28px; vertical-align: middle; border-top: 2px solid #1f77b4; }
.dashed { border-top-style: dashed; }
figure { margin: 10px 0 18px; }
figcaption { font-weight: bold; margin-bottom: 4px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(660px, 1fr)); gap: 6px 20px; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 6px 20px; align-items: start; }
.chart.differs figcaption { color: #c00000; }
b.differs { color: #c00000; }
ul.constant { columns: 3; font-size: 13px; }
.schedule code { padding: 0 1px; }
.schedule .unused { color: #aaa; }
pre.program { background: #f7f7f7; padding: 8px; font-size: 13px; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    }
}
