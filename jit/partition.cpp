// See jit/partition.h for the algorithm outline.
#include "jit/partition.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "ir/graph.h"
#include "ir/node.h"
#include "jit/ops.h"
#include "jit/reductions.h"

namespace fx::jit {
namespace {

using Bits = std::vector<uint64_t>;

bool intersects(const Bits& a, const Bits& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] & b[i]) return true;
  return false;
}
void unite(Bits& a, const Bits& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] |= b[i];
}

// The loop a group runs: its full shape and how many trailing dims it reduces
// (0: elementwise only, every member has that shape).
struct Frame {
  std::vector<int64_t> shape;
  int64_t k = 0;
  int64_t row_group = 1;  // rows reduced together (every member full-size when > 1)
  c10::Device device = c10::Device(c10::DeviceType::CPU);
};

std::vector<int64_t> keep_shape(const Frame& f) {
  std::vector<int64_t> s = f.shape;
  for (size_t d = s.size() - f.k; d < s.size(); ++d) s[d] = 1;
  return s;
}
std::vector<int64_t> drop_shape(const Frame& f) {
  return std::vector<int64_t>(f.shape.begin(), f.shape.end() - f.k);
}

struct Group {
  std::vector<int> members;  // node indices, in graph order
  Bits ids;                  // original group ids merged into this one
  bool alive = true;
  Frame frame;
};

class Partitioner {
 public:
  Partitioner(const Graph& g, const PartitionOptions& o) : options_(o) {
    for (Node* n : g.nodes()) {
      index_[n] = static_cast<int>(nodes_.size());
      nodes_.push_back(n);
    }
    fusible_.assign(nodes_.size(), false);
    reason_.assign(nodes_.size(), "");
    size_t candidates = 0;
    reduction_.assign(nodes_.size(), false);
    info_.resize(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
      std::string why;
      fusible_[i] = node_is_fusible(*nodes_[i], &why);
      if (!fusible_[i] && is_reduction_name(nodes_[i]->target())) {
        fusible_[i] = reduction_[i] = node_is_reduction(*nodes_[i], &info_[i], &why);
        // A reduction over dims whose sizes are all 1 reads like an elementwise
        // node (its result has the full shape): roles would be ambiguous.
        if (fusible_[i] && keep_shape(own_frame(static_cast<int>(i))) == info_[i].full_shape) {
          fusible_[i] = reduction_[i] = false;
          why = "its reduced dims all have size 1 (nothing to reduce)";
        }
      }
      // getitem of a tuple-valued reduction (native_layer_norm) is computed in
      // its row kernel, and only there (place() keeps it out of other groups).
      if (!fusible_[i] && reduction_item(*nodes_[i]) >= 0 &&
          reduction_[index_.at(nodes_[i]->args()[0].to_node())]) {
        fusible_[i] = true;
        why.clear();
      }
      if (fusible_[i])
        ++candidates;
      else
        reason_[i] = why;
    }
    words_ = (candidates + 63) / 64;
    dep_.assign(nodes_.size(), Bits(words_, 0));
    group_of_.assign(nodes_.size(), -1);
  }

  Partition run() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node* n = nodes_[i];
      for (Node* in : n->all_input_nodes()) unite(dep_[i], dep_[index_.at(in)]);
      if (fusible_[i]) place(static_cast<int>(i));
      int g = group_of_[i];
      if (g >= 0) unite(dep_[i], groups_[g].ids);
    }
    return finish();
  }

 private:
  int root(int node) const { return group_of_[node] < 0 ? -1 : group_of_[node]; }

  // The frame node n would have alone.
  Frame own_frame(int n) const {
    Frame f;
    f.device = first_tensor_meta(*nodes_[n])->device;
    if (reduction_[n]) {
      f.shape = info_[n].full_shape;
      f.k = info_[n].k;
      f.row_group = info_[n].row_group;
    } else {
      f.shape = nodes_[n]->tensor_meta()->shape;
    }
    return f;
  }

  // The frame of frames fused together, or nullopt when they cannot share a
  // loop: elementwise frames must equal each other, or be the full, kept or
  // dropped shape of the one reduction frame.
  static std::optional<Frame> combine(const std::vector<Frame>& frames) {
    const Frame* base = &frames[0];
    for (const Frame& f : frames)
      if (f.k > 0) base = &f;
    for (const Frame& f : frames) {
      if (f.device != base->device) return std::nullopt;
      if (f.k > 0 || base->k == 0) {
        if (f.shape != base->shape || f.k != base->k || f.row_group != base->row_group)
          return std::nullopt;
        continue;
      }
      if (f.shape != base->shape &&
          (base->row_group > 1 || (f.shape != keep_shape(*base) && f.shape != drop_shape(*base))))
        return std::nullopt;
    }
    return *base;
  }

  // How member m reads in frame f: 'f' full, 'k' kept row, 'd' dropped row.
  char role(int m, const Frame& f) const {
    if (reduction_[m]) return info_[m].out_view;
    const auto& s = nodes_[m]->tensor_meta()->shape;
    if (f.k == 0 || s == f.shape) return 'f';
    return s == keep_shape(f) ? 'k' : 'd';
  }

  // Whether consumer c may read member p within frame f: a reduction reads
  // full values only (its input, weight and bias); a full elementwise node
  // reads full values and kept rows (which broadcast along the row); a row
  // node reads rows of its own shape.
  bool reads_ok(int p, int c, const Frame& f) const {
    const char rp = role(p, f);
    if (rp == 't') return reduction_item(*nodes_[c]) >= 0;  // a tuple is read by getitem only
    if (reduction_[c]) return rp == 'f';
    const char rc = role(c, f);
    if (rc == 'f') return rp == 'f' || rp == 'k';
    return rp == rc;
  }

  // Whether node n can join the group of its fusible producer ii.
  bool compatible(int ii, int n) const {
    auto f = combine({groups_[group_of_[ii]].frame, own_frame(n)});
    return f && reads_ok(ii, n, *f);
  }

  // Whether merging the groups in set and node n into one keeps the graph
  // acyclic and within the caps; sets *why otherwise.
  bool legal(const std::vector<int>& set, int n, std::string* why) const {
    Bits ids(words_, 0);
    size_t members = 1;
    for (int g : set) {
      unite(ids, groups_[g].ids);
      members += groups_[g].members.size();
    }
    if (members > options_.max_group_size) {
      *why = "group cap (" + std::to_string(options_.max_group_size) + " nodes)";
      return false;
    }
    auto in_set = [&](int node) {
      return node == n || std::find(set.begin(), set.end(), group_of_[node]) != set.end();
    };
    std::vector<Frame> frames{own_frame(n)};
    for (int g : set) frames.push_back(groups_[g].frame);
    std::optional<Frame> frame = combine(frames);
    if (!frame) {
      *why = "output shape or device differs from its producers'";
      return false;
    }
    for (Node* in : nodes_[n]->all_input_nodes()) {
      int ii = index_.at(in);
      if (ii != n && in_set(ii) && !reads_ok(ii, n, *frame)) {
        *why = "reads '" + in->name() + "', whose per-row shape would broadcast across the row";
        return false;
      }
    }
    std::vector<int> all;
    for (int g : set) all.insert(all.end(), groups_[g].members.begin(), groups_[g].members.end());
    all.push_back(n);
    std::vector<Node*> inputs;
    size_t outputs = 0;
    for (int m : all) {
      for (Node* in : nodes_[m]->all_input_nodes()) {
        int ii = index_.at(in);
        if (in_set(ii)) continue;
        if (intersects(dep_[ii], ids)) {
          *why = "would form a cycle (it reads '" + in->name() + "', which depends on the group)";
          return false;
        }
        if (std::find(inputs.begin(), inputs.end(), in) == inputs.end()) inputs.push_back(in);
      }
      for (Node* u : nodes_[m]->users())
        if (!in_set(index_.at(u))) {
          ++outputs;
          break;
        }
    }
    if (inputs.size() + outputs > options_.max_tensor_args) {
      *why = "group cap (" + std::to_string(options_.max_tensor_args) + " tensor arguments)";
      return false;
    }
    return true;
  }

  void place(int n) {
    std::vector<int> producers;
    bool shape_mismatch = false;
    for (Node* in : nodes_[n]->all_input_nodes()) {
      int ii = index_.at(in);
      int g = root(ii);
      if (g < 0) continue;
      if (!compatible(ii, n)) {
        shape_mismatch = true;
        continue;
      }
      if (std::find(producers.begin(), producers.end(), g) == producers.end())
        producers.push_back(g);
    }
    std::string why;
    std::vector<int> chosen;
    if (!producers.empty() && legal(producers, n, &why)) {
      chosen = producers;
    } else {
      for (int g : producers) {
        std::string w;
        if (legal({g}, n, &w)) {
          chosen = {g};
          break;
        }
        if (why.empty()) why = w;
      }
    }
    if (reduction_item(*nodes_[n]) >= 0) {
      // getitem belongs in the group of the tuple it reads, or in none.
      const int whole = group_of_[index_.at(nodes_[n]->args()[0].to_node())];
      if (std::find(chosen.begin(), chosen.end(), whole) == chosen.end()) {
        fusible_[n] = false;
        reason_[n] = why.empty() ? "cannot join the row kernel of the tuple it reads" : why;
        return;
      }
    }
    if (chosen.empty()) {
      int id = static_cast<int>(groups_.size());
      Group g;
      g.ids.assign(words_, 0);
      g.ids[id / 64] |= uint64_t{1} << (id % 64);
      g.members.push_back(n);
      g.frame = own_frame(n);
      groups_.push_back(std::move(g));
      group_of_[n] = id;
      if (!why.empty())
        reason_[n] = why;
      else if (shape_mismatch)
        reason_[n] = "output shape or device differs from its producers'";
      return;
    }
    int into = chosen[0];
    {
      std::vector<Frame> frames{own_frame(n)};
      for (int g : chosen) frames.push_back(groups_[g].frame);
      groups_[into].frame = *combine(frames);
    }
    for (size_t k = 1; k < chosen.size(); ++k) {
      Group& other = groups_[chosen[k]];
      for (int m : other.members) group_of_[m] = into;
      groups_[into].members.insert(groups_[into].members.end(), other.members.begin(),
                                   other.members.end());
      unite(groups_[into].ids, other.ids);
      other.alive = false;
      other.members.clear();
    }
    groups_[into].members.push_back(n);
    std::sort(groups_[into].members.begin(), groups_[into].members.end());
    group_of_[n] = into;
  }

  // The member of g whose tuple result is read outside g (a getitem left out
  // of it, or the output), or -1. Such a group cannot be fused.
  int escaping_tuple(const Group& g) const {
    for (int m : g.members) {
      if (!reduction_[m] || info_[m].out_view != 't') continue;
      for (Node* u : nodes_[m]->users())
        if (group_of_[index_.at(u)] != group_of_[m]) return m;
    }
    return -1;
  }

  Partition finish() {
    Partition p;
    for (Group& g : groups_) {
      if (!g.alive || g.members.empty()) continue;
      if (int t = escaping_tuple(g); t >= 0) {
        for (int m : g.members) group_of_[m] = -1;
        for (int m : g.members)
          if (reason_[m].empty())
            reason_[m] = "its group would return the tuple of '" + nodes_[t]->name() +
                         "' (fused only when all its users are getitem nodes in its row kernel)";
        continue;
      }
      if (g.members.size() < options_.min_group_size) {
        for (int m : g.members) {
          group_of_[m] = -1;
          if (reason_[m].empty())
            reason_[m] = "no fusible neighbour (a group needs at least " +
                         std::to_string(options_.min_group_size) + " nodes)";
        }
        continue;
      }
      FusionGroup fg;
      if (g.frame.k > 0) {
        fg.shape = g.frame.shape;
        fg.reduce_dims = g.frame.k;
        fg.row_group = g.frame.row_group;
      }
      int id = group_of_[g.members[0]];
      for (int m : g.members) fg.nodes.push_back(nodes_[m]);
      for (int m : g.members) {
        for (Node* in : nodes_[m]->all_input_nodes())
          if (group_of_[index_.at(in)] != id &&
              std::find(fg.inputs.begin(), fg.inputs.end(), in) == fg.inputs.end())
            fg.inputs.push_back(in);
        for (Node* u : nodes_[m]->users())
          if (group_of_[index_.at(u)] != id) {
            fg.outputs.push_back(nodes_[m]);
            break;
          }
      }
      p.groups.push_back(std::move(fg));
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node* n = nodes_[i];
      if (group_of_[i] >= 0 || n->op() != Op::CallFunction) continue;
      if (!fusible_[i] && !is_elementwise_name(n->target()) && !is_reduction_name(n->target()))
        continue;
      p.unfused.push_back({n, reason_[i]});
    }
    return p;
  }

  const PartitionOptions& options_;
  std::vector<Node*> nodes_;
  std::unordered_map<const Node*, int> index_;
  std::vector<bool> fusible_;
  std::vector<bool> reduction_;       // fusible as a reduction (jit/reductions.h)
  std::vector<ReductionInfo> info_;  // where each reduction sits
  std::vector<std::string> reason_;
  size_t words_ = 0;
  std::vector<Bits> dep_;
  std::vector<int> group_of_;
  std::vector<Group> groups_;
};

}  // namespace

Partition partition(const Graph& graph, const PartitionOptions& options) {
  return Partitioner(graph, options).run();
}

std::string Partition::explain() const {
  std::ostringstream os;
  for (size_t i = 0; i < groups.size(); ++i) {
    os << "group " << i << ":";
    for (const Node* n : groups[i].nodes) os << " " << n->name();
    if (groups[i].reduce_dims > 0) {
      os << " (row kernel over the last " << groups[i].reduce_dims << " of [";
      for (size_t d = 0; d < groups[i].shape.size(); ++d)
        os << (d ? ", " : "") << groups[i].shape[d];
      os << "]";
      if (groups[i].row_group > 1) os << " in groups of " << groups[i].row_group << " rows";
      os << "; reductions:";
      for (const Node* n : groups[i].nodes)
        if (node_is_reduction(*n, nullptr, nullptr)) os << " " << n->name();
      os << ")";
    }
    os << " (inputs:";
    for (const Node* n : groups[i].inputs) os << " " << n->name();
    os << "; outputs:";
    for (const Node* n : groups[i].outputs) os << " " << n->name();
    os << ")\n";
  }
  for (const Unfused& u : unfused)
    os << "unfused " << u.node->name() << " (" << u.node->target() << "): " << u.reason << "\n";
  return os.str();
}

}  // namespace fx::jit
