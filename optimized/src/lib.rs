pub mod extent_tree;
