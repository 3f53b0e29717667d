// libyaml's document loader, flattened into an array of nodes that Swift decodes (ReflexCore.YAMLDecoder).
#include "CBridge.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <deque>
#include <vector>
#include <yaml.h>

struct rx_yaml_document {
  std::vector<rx_yaml_node> nodes;
  std::vector<long> children;
  std::deque<std::string> strings; // scalar storage; a deque never moves its elements, so c_str() stays valid
  bool tooLarge = false;
};

namespace {

// Copies libyaml's node `index` (1-based) and its subtree into doc, depth first; returns its position.
long flatten(yaml_document_t *src, int index, rx_yaml_document *doc, int depth) {
  yaml_node_t *n = yaml_document_get_node(src, index);
  // Aliases can expand exponentially ("billion laughs"); refuse documents past a million nodes.
  if (doc->tooLarge || doc->nodes.size() >= 1000000) {
    doc->tooLarge = true;
    return 0;
  }
  const long at = long(doc->nodes.size());
  doc->nodes.push_back(rx_yaml_node{});
  rx_yaml_node out{};
  out.line = long(n->start_mark.line) + 1;
  out.column = long(n->start_mark.column) + 1;
  if (depth > 512) { // a pathological nesting depth: treat as an empty scalar rather than recurse forever
    out.kind = RX_YAML_SCALAR;
    doc->strings.emplace_back();
    out.scalar = doc->strings.back().c_str();
    doc->nodes[at] = out;
    return at;
  }
  switch (n->type) {
  case YAML_SCALAR_NODE: {
    out.kind = RX_YAML_SCALAR;
    doc->strings.emplace_back(reinterpret_cast<const char *>(n->data.scalar.value), n->data.scalar.length);
    out.scalar = doc->strings.back().c_str();
    out.scalar_length = long(n->data.scalar.length);
    out.plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    break;
  }
  case YAML_SEQUENCE_NODE: {
    out.kind = RX_YAML_SEQUENCE;
    std::vector<long> kids;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; ++it)
      kids.push_back(flatten(src, *it, doc, depth + 1));
    out.first_child = long(doc->children.size());
    out.child_count = long(kids.size());
    doc->children.insert(doc->children.end(), kids.begin(), kids.end());
    break;
  }
  case YAML_MAPPING_NODE: {
    out.kind = RX_YAML_MAPPING;
    std::vector<long> kids;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; ++p) {
      kids.push_back(flatten(src, p->key, doc, depth + 1));
      kids.push_back(flatten(src, p->value, doc, depth + 1));
    }
    out.first_child = long(doc->children.size());
    out.child_count = long(kids.size());
    doc->children.insert(doc->children.end(), kids.begin(), kids.end());
    break;
  }
  default:
    out.kind = RX_YAML_SCALAR;
    doc->strings.emplace_back();
    out.scalar = doc->strings.back().c_str();
  }
  doc->nodes[at] = out;
  return at;
}

} // namespace

extern "C" {

rx_yaml_document *rx_yaml_parse(const char *text, size_t length, char *error, size_t error_capacity,
                                long *error_line, long *error_column) {
  yaml_parser_t parser;
  yaml_document_t document;
  if (!yaml_parser_initialize(&parser)) {
    std::snprintf(error, error_capacity, "libyaml could not initialize");
    *error_line = 0;
    *error_column = 0;
    return nullptr;
  }
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char *>(text), length);
  if (!yaml_parser_load(&parser, &document)) {
    const char *problem = parser.problem ? parser.problem : "malformed YAML";
    if (parser.context)
      std::snprintf(error, error_capacity, "%s %s", parser.context, problem);
    else
      std::snprintf(error, error_capacity, "%s", problem);
    *error_line = long(parser.problem_mark.line) + 1;
    *error_column = long(parser.problem_mark.column) + 1;
    yaml_parser_delete(&parser);
    return nullptr;
  }
  auto *doc = new rx_yaml_document();
  if (yaml_document_get_root_node(&document)) flatten(&document, 1, doc, 0);
  yaml_document_delete(&document);
  yaml_parser_delete(&parser);
  if (doc->tooLarge) {
    std::snprintf(error, error_capacity, "document expands to more than a million nodes (alias bomb?)");
    *error_line = 1;
    *error_column = 1;
    delete doc;
    return nullptr;
  }
  return doc;
}

void rx_yaml_free(rx_yaml_document *doc) { delete doc; }
long rx_yaml_node_count(const rx_yaml_document *doc) { return long(doc->nodes.size()); }
const rx_yaml_node *rx_yaml_nodes(const rx_yaml_document *doc) { return doc->nodes.data(); }
const long *rx_yaml_children(const rx_yaml_document *doc) { return doc->children.data(); }

} // extern "C"
