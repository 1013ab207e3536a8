"""Parsers: text printed by Linux networking commands -> plain dicts shaped like facts.

One module per format family; each function takes the text and the name of the file it came
from (`source`), and every fact it returns carries `source: "<file>:<line>"`. Parsers never raise
on bad input: lines outside the grammar (stderr merged in by sos, junk) are skipped, and a file
cut off mid-line yields the complete records before the cut.

  sysctl     parse_sysctl_a, parse_proc_sys_file                -> sysctls
  iproute    parse_ip_link / parse_ip_addr, parse_ip_route,
             parse_ip_rule, parse_ip_neigh                      -> interfaces, routes, ip_rules, pod neighbors
  iptables   parse_iptables_save, parse_iptables_list           -> netfilter tables (caller adds backend)
  nft        parse_nft_ruleset                                  -> iptables-nft tables, Calico nft tables
  modules    parse_lsmod, parse_proc_modules                    -> kernel_modules
  system     parse_uname_a, parse_os_release, parse_hostname    -> node fields
  conntrack  parse_conntrack_S, parse_proc_net_stat_nf_conntrack,
             parse_nf_conntrack_count, parse_nf_conntrack_max   -> conntrack
  kube       parse_kubectl_version, parse_kubelet_version, parse_kubectl_pods, parse_kubectl_nodes,
             parse_crictl_ps, parse_crictl_images, calico_version_from_images -> versions, components
  cni        parse_cni_conflist                                 -> settings
  kube_objects parse_kubectl_listing                            -> kube_objects (Calico pods, namespaces,
                                                                   ConfigMaps, and what each listing covered)
  calico_resources parse_ippools, parse_felixconfigurations,
             parse_installations, parse_calico_node_env         -> settings (ippool/<name>, felixconfiguration/<name>,
                                                                   installation/<name>, calico-node FELIX_* env)
             parse_objects                                      -> kube_objects (any kind, from YAML)
  ipset      parse_ipset_list                                   -> sets and ipset errors
  logs       parse_cri_log, parse_calico_line, parse_journal, parse_dmesg, classify,
             log_events_from_file                               -> log_events
"""
