using Kernel.Mm;
using MmuNotifierAnalyzers.Annotations;
using static Kernel.Mm.Linux;

// Allocations that may sleep under a spinlock, each the minus side of the kernel commit that fixed
// it with GFP_ATOMIC (the fixes: Rules/AtomicAllocationCodeFixTests.cs). A caller's lock is
// [MustHoldLock]; spin_lock_bh / spin_lock_irqsave are spin_lock (bottom halves and interrupts
// are not modelled); kmalloc's memory becomes the driver's object when it is not null.

// drivers/tty/serial/8250/8250_port.c, v4.5 (added by e490c9144cfa "tty: Add software
// emulated RS485 support for 8250"); fixed in v4.6-rc1 by b18a183eaac2 "tty: serial: Use
// GFP_ATOMIC instead of GFP_KERNEL in serial8250_em485_init()": its caller,
// serial8250_config_rs485, holds p->port.lock.
namespace KernelPorts.V4_5
{
    sealed class uart_port { public spinlock_t @lock = new(); }
    sealed class uart_8250_em485 { public uart_8250_port? port; public object? active_timer; }
    sealed class uart_8250_port { public uart_port port = new(); public uart_8250_em485? em485; }

    static class Serial8250
    {
        const nuint sizeof_uart_8250_em485 = 64;

        static void serial8250_em485_rts_after_send(uart_8250_port p) { }

        /* hrtimer_init() of the two tx timers elided: Kernel.Mm has no hrtimers. */
        [MustHoldLock("p.port.lock")]
        static int serial8250_em485_init(uart_8250_port p)
        {
            if (p.em485 != null)
                return 0;

            p.em485 = kmalloc(sizeof_uart_8250_em485, GFP_KERNEL) is null ? null : new uart_8250_em485(); // expect: MMU005
            if (p.em485 == null)
                return -ENOMEM;

            p.em485.port = p;
            p.em485.active_timer = null;
            serial8250_em485_rts_after_send(p);

            return 0;
        }
    }
}

// drivers/net/ethernet/hisilicon/hns3/hns3pf/hclge_main.c, v5.3 (dd74f815dd41 "net: hns3:
// Add support for rule add/delete for flow director"); fixed for v5.4 by "net: hns3: change GFP
// flag during lock period" (Yufeng Mo, posted 2019-07-29). The driver's lookups are reduced to
// arrays.
namespace KernelPorts.V5_3
{
    sealed class hclge_fd_rule { public ushort location; public ushort flow_id; public ushort queue_id; }
    sealed class hclge_dev
    {
        public spinlock_t fd_rule_lock = new();
        public int fd_active_type;
        public bool[] fd_bmap = new bool[128];
        public ushort rule_num = 128;
        public hclge_fd_rule?[] rules = new hclge_fd_rule?[128];
    }

    static class Hclge
    {
        const int HCLGE_FD_EP_ACTIVE = 1;
        const int ENOSPC = 28;
        const nuint sizeof_hclge_fd_rule = 96;

        static hclge_fd_rule? hclge_fd_search_flow_keys(hclge_dev hdev, ushort flow_id)
        {
            foreach (var rule in hdev.rules)
                if (rule != null && rule.flow_id == flow_id)
                    return rule;
            return null;
        }

        static ushort find_first_zero_bit(bool[] map)
        {
            ushort i = 0;
            while (i < map.Length && map[i])
                i++;
            return i;
        }

        static int hclge_fd_config_rule(hclge_dev hdev, hclge_fd_rule rule)
        {
            hdev.rules[rule.location] = rule;
            return 0;
        }

        /* spin_lock_bh/spin_unlock_bh: spin_lock/spin_unlock, bottom halves are not modelled. */
        static int hclge_add_fd_entry_by_arfs(hclge_dev hdev, ushort queue_id, ushort flow_id)
        {
            hclge_fd_rule? rule;
            ushort bit_id;
            int ret;

            spin_lock(hdev.fd_rule_lock);

            /* when there is already fd rule existed add by user,
             * arfs should not work
             */
            if (hdev.fd_active_type == HCLGE_FD_EP_ACTIVE)
            {
                spin_unlock(hdev.fd_rule_lock);

                return -EOPNOTSUPP;
            }

            rule = hclge_fd_search_flow_keys(hdev, flow_id);
            if (rule == null)
            {
                bit_id = find_first_zero_bit(hdev.fd_bmap);
                if (bit_id >= hdev.rule_num)
                {
                    spin_unlock(hdev.fd_rule_lock);

                    return -ENOSPC;
                }

                rule = kzalloc(sizeof_hclge_fd_rule, GFP_KERNEL) is null ? null : new hclge_fd_rule(); // expect: MMU005
                if (rule == null)
                {
                    spin_unlock(hdev.fd_rule_lock);

                    return -ENOMEM;
                }

                hdev.fd_bmap[bit_id] = true;
                rule.location = bit_id;
                rule.flow_id = flow_id;
                rule.queue_id = queue_id;
                ret = hclge_fd_config_rule(hdev, rule);

                spin_unlock(hdev.fd_rule_lock);

                if (ret != 0)
                    return ret;

                return rule.location;
            }

            spin_unlock(hdev.fd_rule_lock);

            if (rule.queue_id == queue_id)
                return rule.location;

            rule.queue_id = queue_id;
            return rule.location;
        }

        const int EOPNOTSUPP = 95;
    }
}

// arch/um/drivers/chan_kern.c, v2.6.13: parse_chan() runs under the spinlock line_open()
// takes (through parse_chan_pair()); fixed for v2.6.14 by "uml: use GFP_ATOMIC for allocations
// under spinlocks" (Paolo Giarrusso, posted 2005-09-21).
namespace KernelPorts.V2_6_13
{
    sealed class chan_opts { }
    sealed class chan_ops { public System.Func<string, int, chan_opts, object?> init = (s, d, o) => new object(); }
    sealed class chan { public bool primary = true; public bool input; public bool output; public chan_ops? ops; public object? data; }
    sealed class line { public spinlock_t @lock = new(); }

    static class ChanKern
    {
        const nuint sizeof_chan = 64;

        static chan_ops? get_ops(string str) => new chan_ops();

        [MustHoldLock("l.lock")]
        static chan? parse_chan(line l, string str, int device, chan_opts opts)
        {
            chan_ops? ops = get_ops(str);
            object? data;
            chan? chan;

            if (ops == null) return (null);
            data = ops.init(str, device, opts);
            if (data == null) return (null);

            chan = kmalloc(sizeof_chan, GFP_KERNEL) is null ? null : new chan(); // expect: MMU005
            if (chan == null) return (null);
            chan.ops = ops;
            chan.data = data;
            return (chan);
        }
    }
}

// drivers/scsi/elx/libefc/efc_els.c, v5.17-rc1: efac162a4e4d "scsi: efct: Don't pass GFP_DMA to
// dma_alloc_coherent()" turned the two DMA allocations made under node->els_ios_lock into
// GFP_KERNEL. Yang Yingliang's first fix ("scsi: efct: Use GFP_ATOMIC under spin lock", posted
// 2021-12-21) made them GFP_ATOMIC; the one applied ("scsi: efct: don't use GFP_KERNEL under spin
// lock", v2) took the lock around list_add_tail() only. mempool_alloc and dma_alloc_coherent are
// local helpers that hand their gfp flags to kmalloc, as the kernel's do to the page allocator.
namespace KernelPorts.V5_17
{
    sealed class efc_dma { public nuint size; public object? virt; public ulong phys; }
    sealed class efc_io { public efc_dma req = new(); public efc_dma rsp = new(); }
    sealed class efc_els_io_req { public efc_node? node; public efc_io io = new(); public int els_retries_remaining; }
    sealed class efc { public int els_io_alloc_failed_count; }
    sealed class efc_node
    {
        public efc efc = new();
        public spinlock_t els_ios_lock = new();
        public bool els_io_enabled = true;
        public System.Collections.Generic.List<efc_els_io_req> els_ios_list = new();
    }

    static class EfcEls
    {
        const int EFC_FC_ELS_DEFAULT_RETRIES = 3;
        const nuint sizeof_efc_els_io_req = 256;

        static efc_els_io_req? mempool_alloc(efc efc, gfp_t gfp_mask) =>
            kzalloc(sizeof_efc_els_io_req, gfp_mask) is null ? null : new efc_els_io_req();

        static void mempool_free(efc_els_io_req els, efc efc) => kfree(els);

        static object? dma_alloc_coherent(efc efc, nuint size, out ulong dma_handle, gfp_t gfp)
        {
            dma_handle = 0;
            return kmalloc(size, gfp);
        }

        static void dma_free_coherent(efc efc, nuint size, object? cpu_addr, ulong dma_handle) => kfree(cpu_addr);

        /* spin_lock_irqsave/spin_unlock_irqrestore: spin_lock/spin_unlock; efc_log_err, kref_init and
         * the release callback elided. */
        static efc_els_io_req? efc_els_io_alloc_size(efc_node node, uint reqlen, uint rsplen)
        {
            efc efc;
            efc_els_io_req? els;

            efc = node.efc;

            spin_lock(node.els_ios_lock);

            if (!node.els_io_enabled)
            {
                spin_unlock(node.els_ios_lock);
                return null;
            }

            els = mempool_alloc(efc, GFP_ATOMIC);
            if (els == null)
            {
                efc.els_io_alloc_failed_count++;
                spin_unlock(node.els_ios_lock);
                return null;
            }

            /* populate generic io fields */
            els.node = node;

            /* now allocate DMA for request and response */
            els.io.req.size = reqlen;
            els.io.req.virt = dma_alloc_coherent(efc, els.io.req.size, out els.io.req.phys, GFP_KERNEL); // expect: MMU005
            if (els.io.req.virt == null)
            {
                mempool_free(els, efc);
                spin_unlock(node.els_ios_lock);
                return null;
            }

            els.io.rsp.size = rsplen;
            els.io.rsp.virt = dma_alloc_coherent(efc, els.io.rsp.size, out els.io.rsp.phys, GFP_KERNEL); // expect: MMU005
            if (els.io.rsp.virt == null)
            {
                dma_free_coherent(efc, els.io.req.size, els.io.req.virt, els.io.req.phys);
                mempool_free(els, efc);
                els = null;
            }

            if (els != null)
            {
                /* initialize fields */
                els.els_retries_remaining = EFC_FC_ELS_DEFAULT_RETRIES;

                /* add els structure to ELS IO list */
                node.els_ios_list.Add(els);
            }

            spin_unlock(node.els_ios_lock);
            return els;
        }
    }
}
