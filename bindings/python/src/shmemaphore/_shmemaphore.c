/*
 * _shmemaphore.c - the CPython extension behind the `shmemaphore` package.
 *
 * A thin, hand-written layer over include/shmemaphore.h.  What it adds to the
 * C API, and why:
 *
 *   Lifetimes.  A response's memory (and a reserved buffer) is valid only
 *   until the next call on its channel.  The Response and Reservation objects
 *   are buffer exporters that count their exports; the channel remembers the
 *   one object whose memory is live ("current").  Every call on the channel
 *   first retires it: the memoryview handed out by .data (tracked through a
 *   weak reference) is released, which makes it raise ValueError from then
 *   on, and if any other export is still alive (a numpy array, a slice of the
 *   memoryview) the call raises BufferError and does nothing, so stale memory
 *   is never read and never overwritten under a live view.
 *
 *   Threads.  Every call that may block or copy releases the GIL.  Calls on
 *   one channel are serialised by a per-channel lock (the header requires
 *   it); interrupt() takes no lock.
 *
 *   Signals.  A wait ends with SHMEMAPHORE_E_INTERRUPTED when a signal
 *   handler runs (Python installs its handlers without SA_RESTART), and the
 *   binding also waits in slices of SLICE_MS, so that a signal that lands
 *   while the library is not asleep in the kernel is seen within a slice.
 *   After each, PyErr_CheckSignals(): an exception (KeyboardInterrupt)
 *   propagates; otherwise the wait goes on with the time that is left,
 *   unless interrupt() was called, which raises Interrupted.
 *
 *   fork.  A channel opened before fork() is refused in the child, and the
 *   child never closes it (a server's close would unlink the parent's
 *   objects).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <shmemaphore.h>

/* Longest slice of a wait on a request or response, in milliseconds.  It
 * must exceed the library's liveness interval (50 ms): a wait that reaches
 * its deadline before a 50 ms sleep ends never runs the liveness checks, so
 * with shorter slices a client would never see its server go (PEER_GONE).
 * It also bounds how late a signal that lands while the library is not asleep
 * in the kernel (spinning, checking liveness) is seen. */
#define SLICE_MS 100

/* ------------------------------------------------------------------------ */
/* Module state (one interpreter; the module is not reloaded)               */
/* ------------------------------------------------------------------------ */

static PyObject *g_class_for_code; /* shmemaphore._errors.class_for_code */
static PyObject *g_peer_error;     /* shmemaphore._errors.PeerError */
static PyObject *g_kind[3];        /* Kind.IMAGE, .BYTES, .ERROR */
static PyObject *g_channel_info;   /* a namedtuple type, set by __init__.py */
static atomic_ulong g_fork_generation;

static void after_fork_child(void) { atomic_fetch_add(&g_fork_generation, 1); }

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Raise the exception class for `code` with "context: description (NAME)". */
static PyObject *raise_code(int code, const char *context)
{
    PyObject *cls = PyObject_CallFunction(g_class_for_code, "i", code);
    if (!cls)
        return NULL;
    PyObject *msg = PyUnicode_FromFormat("%s: %s (%s)", context, shmemaphore_strerror(code),
                                         shmemaphore_error_name(code));
    if (msg) {
        PyObject *exc = PyObject_CallFunction(cls, "Ois", msg, code, shmemaphore_error_name(code));
        if (exc) {
            PyErr_SetObject(cls, exc);
            Py_DECREF(exc);
        }
        Py_DECREF(msg);
    }
    Py_DECREF(cls);
    return NULL;
}

/* Seconds (None: forever) to milliseconds; -1 means infinite.  Returns 0, or
 * -1 with an exception set. */
static int parse_timeout(PyObject *obj, int64_t *out_ms, const char *what)
{
    if (obj == Py_None) {
        *out_ms = -1;
        return 0;
    }
    double seconds = PyFloat_AsDouble(obj);
    if (seconds == -1.0 && PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError, "%s must be a number of seconds or None", what);
        return -1;
    }
    if (!(seconds >= 0.0) || seconds > 1e12) {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0 seconds (or None to wait forever), not %R", what, obj);
        return -1;
    }
    double ms = seconds * 1000.0;
    int64_t whole = (int64_t)ms;
    if ((double)whole < ms)
        whole++; /* round up: never wait less than asked */
    *out_ms = whole;
    return 0;
}

/* Payloads up to this size are copied with the GIL held: releasing and
 * taking it again costs more than the copy. */
#define SMALL_COPY (64 * 1024)

/* Parse (first, timeout=None) / (timeout=None) from a fastcall: `npos_min`
 * leading positional arguments are required (0 or 1), then `timeout`. */
static int parse_fast(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                      int want_first, PyObject **first, PyObject **timeout)
{
    *timeout = Py_None;
    Py_ssize_t max = want_first ? 2 : 1;
    if (nargs > max) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd positional arguments (%zd given)", fname, max, nargs);
        return -1;
    }
    if (want_first) {
        if (nargs < 1) {
            Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
            for (Py_ssize_t i = 0; i < nk; i++) {
                if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i), "request") == 0) {
                    *first = args[nargs + i];
                    goto have_first;
                }
            }
            PyErr_Format(PyExc_TypeError, "%s() missing its required argument 'request'", fname);
            return -1;
        }
        *first = args[0];
    }
have_first:
    if (nargs == max)
        *timeout = args[max - 1];
    if (kwnames) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nk; i++) {
            PyObject *k = PyTuple_GET_ITEM(kwnames, i);
            if (PyUnicode_CompareWithASCIIString(k, "timeout") == 0) {
                if (nargs == max) {
                    PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument 'timeout'", fname);
                    return -1;
                }
                *timeout = args[nargs + i];
            } else if (want_first && nargs < 1 && PyUnicode_CompareWithASCIIString(k, "request") == 0) {
            } else {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, k);
                return -1;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Channel (base of Server and Client)                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    shmemaphore_channel *ch; /* NULL once really closed */
    int role;                /* SHMEMAPHORE_ROLE_* */
    int closed;              /* close() called: no further calls */
    unsigned long fork_generation;
    PyThread_type_lock lock; /* serialises calls on the channel */
    atomic_long interrupts;  /* interrupt() calls not yet reported */
    PyObject *current;       /* borrowed: the Response/Reservation whose memory is live */
    PyObject *name;          /* str */
    int request_held;        /* client: a request received, not yet answered */
    unsigned long owner;     /* thread that holds `lock` (0: none); GIL-protected */
    int close_pending;       /* close() ran inside a call of the same thread */
    PyObject *weakreflist;
} ChannelObject;

typedef struct {
    PyObject_HEAD
    ChannelObject *channel; /* strong */
    shmemaphore_response resp;
    int valid;
    Py_ssize_t nbytes;
    Py_ssize_t exports;
    PyObject *view_ref; /* weak reference to the memoryview .data handed out, or NULL */
} ResponseObject;

typedef struct {
    PyObject_HEAD
    ChannelObject *channel; /* strong */
    uint8_t *buffer;
    shmemaphore_metadata metadata; /* what commit() publishes */
    int ndim;
    Py_ssize_t shape[3];
    Py_ssize_t strides[3];
    Py_ssize_t nbytes;
    int state; /* RES_OPEN, RES_COMMITTED, RES_DROPPED */
    Py_ssize_t exports;
    PyObject *view_ref;
} ReservationObject;

enum { RES_OPEN = 0, RES_COMMITTED = 1, RES_DROPPED = 2 };

static PyTypeObject ChannelType, ServerType, ClientType, ResponseType, ReservationType;

#define IS_RESPONSE(o) (Py_TYPE(o) == &ResponseType)

static const char STALE_RESPONSE[] =
    "this response is no longer valid: its memory belongs to the channel again after the "
    "channel's next call (or close); copy what you need first (bytes(r.data), r.to_numpy(copy=True))";
static const char STALE_RESERVATION[] =
    "this reserved buffer is no longer valid: it was committed, cancelled, or the channel made "
    "another call";

/* Release the memoryview a weak reference points to, if it is alive.
 * Returns 0, or -1 with BufferError set (the view is itself exported). */
static int release_tracked_view(PyObject **view_ref)
{
    if (!*view_ref)
        return 0;
    PyObject *view = PyWeakref_GetObject(*view_ref); /* borrowed */
    if (view && view != Py_None) {
        PyObject *res = PyObject_CallMethod(view, "release", NULL);
        if (!res)
            return -1;
        Py_DECREF(res);
    }
    Py_CLEAR(*view_ref);
    return 0;
}

/* Retire the channel's live memory before another call on it.  Returns 0,
 * or -1 with BufferError set (and the channel unchanged otherwise). */
static int retire_current(ChannelObject *self, const char *what)
{
    PyObject *cur = self->current;
    if (!cur)
        return 0;
    Py_ssize_t *exports;
    PyObject **view_ref;
    int is_response = IS_RESPONSE(cur);
    if (is_response) {
        exports = &((ResponseObject *)cur)->exports;
        view_ref = &((ResponseObject *)cur)->view_ref;
    } else {
        exports = &((ReservationObject *)cur)->exports;
        view_ref = &((ReservationObject *)cur)->view_ref;
    }
    if (release_tracked_view(view_ref) < 0 || *exports > 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_BufferError,
                     "%s: a view of the %s is still in use (a numpy array from to_numpy() or "
                     "np.asarray(), a memoryview slice, ...): copy it (np.array(a), bytes(v)) or "
                     "delete it, then call again; the channel is unchanged",
                     what, is_response ? "previous response" : "reserved buffer");
        return -1;
    }
    if (is_response) {
        ResponseObject *r = (ResponseObject *)cur;
        r->valid = 0;
        r->resp.data = NULL;
    } else {
        ReservationObject *r = (ReservationObject *)cur;
        r->state = RES_DROPPED;
        r->buffer = NULL;
    }
    self->current = NULL;
    return 0;
}

/* Check that the channel may be used by this process now. */
static int check_usable(ChannelObject *self)
{
    if (self->fork_generation != atomic_load(&g_fork_generation)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "this channel was opened before fork(): it belongs to the parent process; "
                        "open a new channel in the child");
        return -1;
    }
    if (self->closed || !self->ch) {
        PyErr_SetString(PyExc_ValueError, "the channel is closed");
        return -1;
    }
    return 0;
}

static void channel_really_close(ChannelObject *self);

/* Take the channel's lock, releasing the GIL while it is contended.  A call
 * from the thread that holds it (a signal handler that runs while this
 * thread waits on the channel) would deadlock: RuntimeError instead. */
static int lock_channel(ChannelObject *self)
{
    unsigned long me = PyThread_get_thread_ident();
    if (self->owner == me) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the channel is in use by a call of this same thread (a signal handler that runs "
                        "during a wait may call only interrupt() or close() on its channel)");
        return -1;
    }
    if (!PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
    self->owner = me;
    return 0;
}

static void unlock_channel(ChannelObject *self)
{
    if (self->close_pending) {
        /* close() was called from within this call (a signal handler). */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        self->close_pending = 0;
        if (retire_current(self, "close") == 0)
            channel_really_close(self);
        else
            PyErr_Clear(); /* a view still in use: the objects go with the channel */
        PyErr_Restore(type, value, tb);
    }
    self->owner = 0;
    PyThread_release_lock(self->lock);
}

/* Begin a call on the channel: usable, locked, live memory retired.
 * Returns 0 (locked), or -1 with an exception set (not locked). */
static int begin_call(ChannelObject *self, const char *what)
{
    if (check_usable(self) < 0 || lock_channel(self) < 0)
        return -1;
    if (check_usable(self) < 0 || retire_current(self, what) < 0) {
        unlock_channel(self);
        return -1;
    }
    return 0;
}

/* A wait step: one call of the library that may wait `slice_ms`. */
typedef int (*wait_step)(ChannelObject *self, int64_t slice_ms, void *context);

#define WAIT_PYERR 1 /* returned by wait_loop when a Python exception is set */

/* Run `step` until it returns something other than a timeout of its slice
 * or an interrupt that is not for us.  Returns the library's status, or
 * WAIT_PYERR with an exception set (KeyboardInterrupt, Interrupted, closed). */
static int wait_loop(ChannelObject *self, int64_t timeout_ms, int64_t slice_cap, wait_step step, void *context)
{
    int64_t deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;
    for (;;) {
        int64_t slice = slice_cap;
        if (timeout_ms >= 0) {
            int64_t left = deadline - now_ms();
            if (left < 0)
                left = 0;
            if (slice < 0 || left < slice)
                slice = left;
        }
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = step(self, slice, context);
        Py_END_ALLOW_THREADS
        if (rc == SHMEMAPHORE_E_TIMEOUT) {
            if (timeout_ms >= 0 && now_ms() >= deadline)
                return rc;
        } else if (rc != SHMEMAPHORE_E_INTERRUPTED) {
            return rc;
        }
        if (PyErr_CheckSignals() < 0)
            return WAIT_PYERR;
        if (self && self->closed) {
            PyErr_SetString(PyExc_ValueError, "the channel was closed while a call waited on it");
            return WAIT_PYERR;
        }
        if (self && rc == SHMEMAPHORE_E_INTERRUPTED && atomic_exchange(&self->interrupts, 0) > 0) {
            raise_code(SHMEMAPHORE_E_INTERRUPTED, "the wait was ended by interrupt()");
            return WAIT_PYERR;
        }
    }
}

/* Options from keywords shared by Server and Client. */
static int build_options(shmemaphore_options *o, unsigned mode, const char *wait, int untrusted, int foreign)
{
    int rc = shmemaphore_options_init(o, sizeof *o);
    if (rc != SHMEMAPHORE_OK) {
        raise_code(rc, "shmemaphore_options_init");
        return -1;
    }
    o->mode = mode;
    if (wait == NULL || strcmp(wait, "adaptive") == 0) {
    } else if (strcmp(wait, "blocking") == 0) {
        o->flags |= SHMEMAPHORE_FLAG_BLOCKING_WAIT;
    } else {
        PyErr_Format(PyExc_ValueError, "wait must be 'adaptive' or 'blocking', not %R", PyUnicode_FromString(wait));
        return -1;
    }
    if (untrusted)
        o->flags |= SHMEMAPHORE_FLAG_UNTRUSTED_PEER;
    if (foreign)
        o->flags |= SHMEMAPHORE_FLAG_ALLOW_FOREIGN_OWNER;
    return 0;
}

/* The channel name as UTF-8 without NUL; returns a new bytes object or NULL. */
static PyObject *name_bytes(PyObject *name)
{
    PyObject *b;
    if (PyUnicode_Check(name)) {
        b = PyUnicode_AsUTF8String(name);
        if (!b)
            return NULL;
    } else if (PyBytes_Check(name)) {
        b = Py_NewRef(name);
    } else {
        PyErr_Format(PyExc_TypeError, "channel name must be str or bytes, not %.100s", Py_TYPE(name)->tp_name);
        return NULL;
    }
    if ((size_t)PyBytes_GET_SIZE(b) != strlen(PyBytes_AS_STRING(b))) {
        Py_DECREF(b);
        raise_code(SHMEMAPHORE_E_INVALID_NAME, "channel name contains a NUL character");
        return NULL;
    }
    return b;
}

static ChannelObject *channel_alloc(PyTypeObject *type, PyObject *name)
{
    ChannelObject *self = (ChannelObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->lock = PyThread_allocate_lock();
    if (!self->lock) {
        Py_DECREF(self);
        PyErr_NoMemory();
        return NULL;
    }
    atomic_init(&self->interrupts, 0);
    self->fork_generation = atomic_load(&g_fork_generation);
    self->name = PyUnicode_Check(name) ? Py_NewRef(name) : PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
    if (!self->name) {
        Py_DECREF(self);
        return NULL;
    }
    return self;
}

/* Really close (the handle), if this process owns it. */
static void channel_really_close(ChannelObject *self)
{
    if (self->ch && self->fork_generation == atomic_load(&g_fork_generation)) {
        shmemaphore_channel *ch = self->ch;
        self->ch = NULL;
        shmemaphore_close(ch);
    }
    self->ch = NULL;
}

static void Channel_dealloc(ChannelObject *self)
{
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->ch && !self->closed && self->fork_generation == atomic_load(&g_fork_generation)) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (PyErr_WarnFormat(PyExc_ResourceWarning, 1, "unclosed shmemaphore %s %R", Py_TYPE(self)->tp_name,
                             self->name ? self->name : Py_None) < 0)
            PyErr_WriteUnraisable((PyObject *)self);
        PyErr_Restore(type, value, tb);
    }
    /* Nothing can still point into the channel's memory: every Response and
     * Reservation holds a reference to the channel. */
    channel_really_close(self);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_XDECREF(self->name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(close_doc,
"close()\n--\n\n"
"Close the channel.  A server removes the channel's four objects from /dev/shm\n"
"(a waiting client then sees PeerGone); a client removes nothing.  Closing\n"
"twice does nothing.  A call waiting on the channel in another thread is\n"
"interrupted and raises ValueError.  Raises BufferError (and stays open) while a\n"
"view of the last response or of a reserved buffer is still in use.");

static PyObject *Channel_close(ChannelObject *self, PyObject *unused)
{
    if (self->closed || !self->ch)
        return Py_NewRef(Py_None);
    if (self->fork_generation != atomic_load(&g_fork_generation)) {
        /* The child's copy: forget it, never unlink the parent's objects. */
        self->closed = 1;
        self->ch = NULL;
        return Py_NewRef(Py_None);
    }
    if (self->owner == PyThread_get_thread_ident()) {
        /* Called inside a call of this thread (a signal handler during a
         * wait): end the wait; the call closes the channel as it returns. */
        self->closed = 1;
        self->close_pending = 1;
        atomic_fetch_add(&self->interrupts, 1);
        shmemaphore_interrupt(self->ch);
        return Py_NewRef(Py_None);
    }
    if (!PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
        /* Another thread is in a call, probably waiting: end its wait. */
        self->closed = 1;
        atomic_fetch_add(&self->interrupts, 1);
        shmemaphore_interrupt(self->ch);
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
        self->closed = 0;
        atomic_store(&self->interrupts, 0); /* a token the library still holds only gives a retried wait */
    }
    self->owner = PyThread_get_thread_ident();
    if (retire_current(self, "close") < 0) {
        unlock_channel(self);
        return NULL;
    }
    self->closed = 1;
    channel_really_close(self);
    unlock_channel(self);
    return Py_NewRef(Py_None);
}

PyDoc_STRVAR(interrupt_doc,
"interrupt()\n--\n\n"
"End the wait in progress on this channel (in any thread), or if none is in\n"
"progress, the channel's next wait: it raises Interrupted.  Thread-safe; may\n"
"be called from a signal handler.  Does nothing on a closed channel.");

static PyObject *Channel_interrupt(ChannelObject *self, PyObject *unused)
{
    shmemaphore_channel *ch = self->ch;
    if (ch && !self->closed && self->fork_generation == atomic_load(&g_fork_generation)) {
        atomic_fetch_add(&self->interrupts, 1);
        shmemaphore_interrupt(ch); /* safe even if another thread closes meanwhile */
    }
    return Py_NewRef(Py_None);
}

static PyObject *Channel_enter(ChannelObject *self, PyObject *unused)
{
    if (check_usable(self) < 0)
        return NULL;
    return Py_NewRef(self);
}

static PyObject *Channel_exit(ChannelObject *self, PyObject *args)
{
    PyObject *exc_type = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
    PyObject *res = Channel_close(self, NULL);
    if (!res) {
        if (exc_type != Py_None && PyErr_ExceptionMatches(PyExc_BufferError)) {
            /* An exception is on its way: do not mask it.  The channel is
             * closed for calls; the objects go when the last view does. */
            PyErr_Clear();
            self->closed = 1;
            Py_RETURN_FALSE;
        }
        return NULL;
    }
    Py_DECREF(res);
    Py_RETURN_FALSE;
}

static PyObject *Channel_get_closed(ChannelObject *self, void *c)
{
    return PyBool_FromLong(self->closed || !self->ch);
}

static PyObject *Channel_repr(ChannelObject *self)
{
    return PyUnicode_FromFormat("<%s %R%s>", Py_TYPE(self)->tp_name, self->name,
                                (self->closed || !self->ch) ? " (closed)" : "");
}

static PyMethodDef Channel_methods[] = {
    {"close", (PyCFunction)Channel_close, METH_NOARGS, close_doc},
    {"interrupt", (PyCFunction)Channel_interrupt, METH_NOARGS, interrupt_doc},
    {"__enter__", (PyCFunction)Channel_enter, METH_NOARGS, "Return the channel itself."},
    {"__exit__", (PyCFunction)Channel_exit, METH_VARARGS, "Close the channel (see close())."},
    {NULL},
};

static PyMemberDef Channel_members[] = {
    {"name", T_OBJECT_EX, offsetof(ChannelObject, name), READONLY, "The channel name as given."},
    {NULL},
};

static PyGetSetDef Channel_getset[] = {
    {"closed", (getter)Channel_get_closed, NULL, "True once close() was called.", NULL},
    {NULL},
};

/* ------------------------------------------------------------------------ */
/* Response                                                                 */
/* ------------------------------------------------------------------------ */

static int Response_getbuffer(ResponseObject *self, Py_buffer *view, int flags)
{
    if (!self->valid || !self->channel || self->channel->fork_generation != atomic_load(&g_fork_generation)) {
        PyErr_SetString(PyExc_ValueError, STALE_RESPONSE);
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, (void *)self->resp.data, self->nbytes, 1, flags) < 0) {
        view->obj = NULL;
        return -1;
    }
    self->exports++;
    return 0;
}

static void Response_releasebuffer(ResponseObject *self, Py_buffer *view) { self->exports--; }

static PyBufferProcs Response_as_buffer = {
    (getbufferproc)Response_getbuffer,
    (releasebufferproc)Response_releasebuffer,
};

static void Response_dealloc(ResponseObject *self)
{
    if (self->channel && self->channel->current == (PyObject *)self)
        self->channel->current = NULL;
    Py_XDECREF(self->view_ref);
    Py_XDECREF(self->channel);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Response_get_kind(ResponseObject *self, void *c)
{
    unsigned k = self->resp.kind < 3 ? self->resp.kind : 1;
    return Py_NewRef(g_kind[k]);
}

static PyObject *Response_get_width(ResponseObject *self, void *c)
{
    return PyLong_FromUnsignedLongLong(self->resp.metadata.width);
}
static PyObject *Response_get_height(ResponseObject *self, void *c)
{
    return PyLong_FromUnsignedLongLong(self->resp.metadata.height);
}
static PyObject *Response_get_channels(ResponseObject *self, void *c)
{
    return PyLong_FromUnsignedLongLong(self->resp.metadata.channels);
}
static PyObject *Response_get_nbytes(ResponseObject *self, void *c) { return PyLong_FromSsize_t(self->nbytes); }
static PyObject *Response_get_valid(ResponseObject *self, void *c) { return PyBool_FromLong(self->valid); }

static PyObject *Response_get_data(ResponseObject *self, void *c)
{
    if (self->view_ref) {
        PyObject *view = PyWeakref_GetObject(self->view_ref);
        if (view && view != Py_None && self->valid)
            return Py_NewRef(view);
        Py_CLEAR(self->view_ref);
    }
    PyObject *view = PyMemoryView_FromObject((PyObject *)self);
    if (!view)
        return NULL;
    self->view_ref = PyWeakref_NewRef(view, NULL);
    if (!self->view_ref) {
        Py_DECREF(view);
        return NULL;
    }
    return view;
}

PyDoc_STRVAR(to_numpy_doc,
"to_numpy(copy=False)\n--\n\n"
"The payload as a numpy uint8 array: shape (height, width, channels) for an\n"
"image, 1-D for bytes.  Without copy, a read-only view of shared memory: while\n"
"it is alive, the channel's next call raises BufferError (delete it, or keep\n"
"np.array(a) instead).  With copy=True, an independent writable array.");

static PyObject *Response_to_numpy(ResponseObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"copy", NULL};
    int copy = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:to_numpy", kwlist, &copy))
        return NULL;
    if (!self->valid) {
        PyErr_SetString(PyExc_ValueError, STALE_RESPONSE);
        return NULL;
    }
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np)
        return NULL;
    PyObject *result = NULL, *flat = NULL, *data = NULL;
    data = Response_get_data(self, NULL);
    if (!data)
        goto done;
    flat = PyObject_CallMethod(np, "frombuffer", "Os", data, "uint8");
    if (!flat)
        goto done;
    if (self->resp.kind == SHMEMAPHORE_PAYLOAD_IMAGE) {
        result = PyObject_CallMethod(flat, "reshape", "(KKK)", (unsigned long long)self->resp.metadata.height,
                                     (unsigned long long)self->resp.metadata.width,
                                     (unsigned long long)self->resp.metadata.channels);
    } else {
        result = Py_NewRef(flat);
    }
    if (result && copy) {
        PyObject *copied = PyObject_CallMethod(result, "copy", NULL);
        Py_SETREF(result, copied);
    }
done:
    Py_XDECREF(flat);
    Py_XDECREF(data);
    Py_DECREF(np);
    return result;
}

PyDoc_STRVAR(tobytes_doc, "tobytes()\n--\n\nA copy of the payload as bytes.");

static PyObject *Response_tobytes(ResponseObject *self, PyObject *unused)
{
    if (!self->valid) {
        PyErr_SetString(PyExc_ValueError, STALE_RESPONSE);
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)self->resp.data, self->nbytes);
}

PyDoc_STRVAR(save_doc,
"save(path)\n--\n\n"
"Save an image response to `path`; the format follows the extension: .png,\n"
".jpg/.jpeg (quality 90), .bmp, .tga.  Raises NotImage for a bytes response,\n"
"UnsupportedFormat, ImageEncodeError, or ValueError once the response is stale.");

static PyObject *Response_save(ResponseObject *self, PyObject *arg)
{
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(arg, &path))
        return NULL;
    ChannelObject *ch = self->channel;
    if (check_usable(ch) < 0 || lock_channel(ch) < 0) {
        Py_DECREF(path);
        return NULL;
    }
    if (!self->valid) {
        unlock_channel(ch);
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, STALE_RESPONSE);
        return NULL;
    }
    if ((size_t)PyBytes_GET_SIZE(path) != strlen(PyBytes_AS_STRING(path))) {
        unlock_channel(ch);
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, "save: path contains a NUL character");
        return NULL;
    }
    int rc;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = shmemaphore_save_image(&self->resp, p);
    Py_END_ALLOW_THREADS
    unlock_channel(ch);
    Py_DECREF(path);
    if (rc != SHMEMAPHORE_OK)
        return raise_code(rc, "save");
    return Py_NewRef(Py_None);
}

PyDoc_STRVAR(release_doc,
"release()\n--\n\n"
"Give the response's memory back now (what the channel's next call does):\n"
"the memoryview from .data is released.  Raises BufferError while another\n"
"view is alive.");

static PyObject *Response_release(ResponseObject *self, PyObject *unused)
{
    if (!self->valid)
        return Py_NewRef(Py_None);
    ChannelObject *ch = self->channel;
    if (ch->current == (PyObject *)self) {
        if (retire_current(ch, "release") < 0)
            return NULL;
    } else {
        self->valid = 0;
    }
    return Py_NewRef(Py_None);
}

static PyObject *Response_enter(ResponseObject *self, PyObject *unused) { return Py_NewRef(self); }

static PyObject *Response_exit(ResponseObject *self, PyObject *args)
{
    PyObject *exc_type = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
    PyObject *r = Response_release(self, NULL);
    if (!r) {
        if (exc_type != Py_None) {
            PyErr_Clear();
            Py_RETURN_FALSE;
        }
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static Py_ssize_t Response_len(ResponseObject *self) { return self->nbytes; }

static PyObject *Response_repr(ResponseObject *self)
{
    const char *state = self->valid ? "" : " (released)";
    if (self->resp.kind == SHMEMAPHORE_PAYLOAD_IMAGE)
        return PyUnicode_FromFormat("<shmemaphore.Response image %llux%llux%llu, %zd bytes%s>",
                                    (unsigned long long)self->resp.metadata.width,
                                    (unsigned long long)self->resp.metadata.height,
                                    (unsigned long long)self->resp.metadata.channels, self->nbytes, state);
    return PyUnicode_FromFormat("<shmemaphore.Response bytes, %zd bytes%s>", self->nbytes, state);
}

static PyMethodDef Response_methods[] = {
    {"to_numpy", (PyCFunction)(void (*)(void))Response_to_numpy, METH_VARARGS | METH_KEYWORDS, to_numpy_doc},
    {"tobytes", (PyCFunction)Response_tobytes, METH_NOARGS, tobytes_doc},
    {"save", (PyCFunction)Response_save, METH_O, save_doc},
    {"release", (PyCFunction)Response_release, METH_NOARGS, release_doc},
    {"__enter__", (PyCFunction)Response_enter, METH_NOARGS, "Return the response itself."},
    {"__exit__", (PyCFunction)Response_exit, METH_VARARGS, "Release the response (see release())."},
    {NULL},
};

static PyGetSetDef Response_getset[] = {
    {"kind", (getter)Response_get_kind, NULL, "Kind.IMAGE or Kind.BYTES.", NULL},
    {"width", (getter)Response_get_width, NULL, "Image width in pixels (0 for bytes).", NULL},
    {"height", (getter)Response_get_height, NULL, "Image height in pixels (0 for bytes).", NULL},
    {"channels", (getter)Response_get_channels, NULL, "Interleaved 8-bit channels per pixel (0 for bytes).", NULL},
    {"nbytes", (getter)Response_get_nbytes, NULL, "Payload length in bytes.", NULL},
    {"data", (getter)Response_get_data, NULL,
     "Read-only memoryview of the payload, in shared memory; released by the channel's next call.", NULL},
    {"valid", (getter)Response_get_valid, NULL, "True until the channel's next call (or release()).", NULL},
    {NULL},
};

static PySequenceMethods Response_as_sequence = {.sq_length = (lenfunc)Response_len};

/* ------------------------------------------------------------------------ */
/* Server                                                                   */
/* ------------------------------------------------------------------------ */

PyDoc_STRVAR(Server_doc,
"Server(name, *, mode=0o600, stale='reset', wait='adaptive', untrusted_peer=False,\n"
"       allow_foreign_owner=False)\n--\n\n"
"Open channel `name` as its server (the requester).  Creates the channel's\n"
"objects and returns at once; it does not wait for a client.  `mode` are the\n"
"objects' permission bits (owner and group only); `stale` is 'reset' (replace a\n"
"crashed server's leftovers) or 'fail' (raise Exists); `wait` is 'adaptive'\n"
"(spin briefly when that pays) or 'blocking' (always sleep in the kernel).\n"
"Use it as a context manager, or call close(): closing removes the objects.");

static PyObject *Server_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "mode", "stale", "wait", "untrusted_peer", "allow_foreign_owner", NULL};
    PyObject *name;
    unsigned int mode = 0;
    const char *stale = "reset", *wait = "adaptive";
    int untrusted = 0, foreign = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$Isspp:Server", kwlist, &name, &mode, &stale, &wait,
                                     &untrusted, &foreign))
        return NULL;
    shmemaphore_options o;
    if (build_options(&o, mode, wait, untrusted, foreign) < 0)
        return NULL;
    if (strcmp(stale, "reset") == 0)
        o.stale_policy = SHMEMAPHORE_STALE_RESET;
    else if (strcmp(stale, "fail") == 0)
        o.stale_policy = SHMEMAPHORE_STALE_FAIL;
    else {
        PyErr_Format(PyExc_ValueError, "stale must be 'reset' or 'fail', not '%s'", stale);
        return NULL;
    }
    PyObject *b = name_bytes(name);
    if (!b)
        return NULL;
    ChannelObject *self = channel_alloc(type, name);
    if (!self) {
        Py_DECREF(b);
        return NULL;
    }
    int rc;
    const char *n = PyBytes_AS_STRING(b);
    Py_BEGIN_ALLOW_THREADS
    rc = shmemaphore_server_open(n, &o, &self->ch);
    Py_END_ALLOW_THREADS
    Py_DECREF(b);
    if (rc != SHMEMAPHORE_OK) {
        self->ch = NULL;
        self->closed = 1;
        Py_DECREF(self);
        return raise_code(rc, "Server");
    }
    self->role = SHMEMAPHORE_ROLE_SERVER;
    return (PyObject *)self;
}

typedef struct {
    shmemaphore_response *out;
} receive_response_ctx;

static int step_receive_response(ChannelObject *self, int64_t slice, void *context)
{
    return shmemaphore_receive_response(self->ch, slice, ((receive_response_ctx *)context)->out);
}

/* Wait for the response (lock held) and turn it into a Response or an
 * exception.  Consumes nothing; unlocks nothing. */
static PyObject *server_finish(ChannelObject *self, int64_t timeout_ms, const char *what)
{
    ResponseObject *r = PyObject_New(ResponseObject, &ResponseType);
    if (!r)
        return NULL;
    r->channel = NULL;
    r->valid = 0;
    r->exports = 0;
    r->view_ref = NULL;
    r->nbytes = 0;
    memset(&r->resp, 0, sizeof r->resp);
    receive_response_ctx ctx = {&r->resp};
    int rc = wait_loop(self, timeout_ms, SLICE_MS, step_receive_response, &ctx);
    if (rc == WAIT_PYERR) {
        Py_DECREF(r);
        return NULL;
    }
    if (rc == SHMEMAPHORE_OK && r->resp.metadata.bytes > (uint64_t)PY_SSIZE_T_MAX)
        rc = SHMEMAPHORE_E_TOO_LARGE;
    if (rc == SHMEMAPHORE_E_PEER_ERROR) {
        uint64_t n = r->resp.metadata.bytes;
        PyObject *message = PyUnicode_DecodeUTF8((const char *)r->resp.data, (Py_ssize_t)(n > 1u << 20 ? 1u << 20 : n),
                                                 "replace");
        uint64_t peer_code = r->resp.error_code;
        Py_DECREF(r);
        if (!message)
            return NULL;
        PyObject *exc = PyObject_CallFunction(g_peer_error, "OisK", message, rc, shmemaphore_error_name(rc),
                                              (unsigned long long)peer_code);
        Py_DECREF(message);
        if (exc) {
            PyErr_SetObject(g_peer_error, exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    if (rc != SHMEMAPHORE_OK) {
        Py_DECREF(r);
        return raise_code(rc, what);
    }
    r->channel = (ChannelObject *)Py_NewRef(self);
    r->nbytes = (Py_ssize_t)r->resp.metadata.bytes;
    r->valid = 1;
    self->current = (PyObject *)r;
    return (PyObject *)r;
}

/* Request bytes from str (UTF-8) or a contiguous buffer. */
static int get_request(PyObject *obj, Py_buffer *view, PyObject **holder)
{
    *holder = NULL;
    if (PyUnicode_Check(obj)) {
        *holder = PyUnicode_AsUTF8String(obj);
        if (!*holder)
            return -1;
        obj = *holder;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) {
        Py_CLEAR(*holder);
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "a request must be str (sent as UTF-8) or a contiguous bytes-like "
                                          "object, not %.100s", Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    return 0;
}

static int send_request_locked(ChannelObject *self, PyObject *request)
{
    Py_buffer view;
    PyObject *holder;
    if (get_request(request, &view, &holder) < 0)
        return -1;
    int rc;
    if (view.len <= SMALL_COPY) {
        rc = shmemaphore_send_request(self->ch, view.buf, (uint64_t)view.len);
    } else {
        Py_BEGIN_ALLOW_THREADS
        rc = shmemaphore_send_request(self->ch, view.buf, (uint64_t)view.len);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&view);
    Py_XDECREF(holder);
    if (rc != SHMEMAPHORE_OK) {
        raise_code(rc, "send_request");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(request_doc,
"request(request, timeout=None)\n--\n\n"
"Send `request` (str, sent as UTF-8, or a bytes-like object) and wait up to\n"
"`timeout` seconds (None: forever) for the response.  Returns a Response whose\n"
"memory is valid until the channel's next call.  Raises PeerError for an error\n"
"response, Timeout (call again: the unanswered request is given up and sent\n"
"anew), PeerGone, ProtocolError, Interrupted, KeyboardInterrupt on Ctrl-C, and\n"
"BufferError while a view of the previous response is still in use.");

static PyObject *Server_request(ChannelObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *request, *timeout;
    if (parse_fast("request", args, nargs, kwnames, 1, &request, &timeout) < 0)
        return NULL;
    int64_t timeout_ms;
    if (parse_timeout(timeout, &timeout_ms, "timeout") < 0)
        return NULL;
    if (begin_call(self, "request") < 0)
        return NULL;
    PyObject *result = NULL;
    if (send_request_locked(self, request) == 0)
        result = server_finish(self, timeout_ms, "request");
    unlock_channel(self);
    return result;
}

PyDoc_STRVAR(send_request_doc,
"send_request(request)\n--\n\n"
"Send `request` and return without waiting (receive_response() waits).  An\n"
"outstanding request is given up first.");

static PyObject *Server_send_request(ChannelObject *self, PyObject *request)
{
    if (begin_call(self, "send_request") < 0)
        return NULL;
    int rc = send_request_locked(self, request);
    unlock_channel(self);
    if (rc < 0)
        return NULL;
    return Py_NewRef(Py_None);
}

PyDoc_STRVAR(receive_response_doc,
"receive_response(timeout=None)\n--\n\n"
"Wait up to `timeout` seconds (None: forever) for the response to the\n"
"outstanding request; after Timeout or Interrupted it may be called again.\n"
"Returns a Response; raises as request() does.");

static PyObject *Server_receive_response(ChannelObject *self, PyObject *const *args, Py_ssize_t nargs,
                                         PyObject *kwnames)
{
    PyObject *timeout;
    if (parse_fast("receive_response", args, nargs, kwnames, 0, NULL, &timeout) < 0)
        return NULL;
    int64_t timeout_ms;
    if (parse_timeout(timeout, &timeout_ms, "timeout") < 0)
        return NULL;
    if (begin_call(self, "receive_response") < 0)
        return NULL;
    PyObject *result = server_finish(self, timeout_ms, "receive_response");
    unlock_channel(self);
    return result;
}

static PyMethodDef Server_methods[] = {
    {"request", (PyCFunction)(void (*)(void))Server_request, METH_FASTCALL | METH_KEYWORDS, request_doc},
    {"send_request", (PyCFunction)Server_send_request, METH_O, send_request_doc},
    {"receive_response", (PyCFunction)(void (*)(void))Server_receive_response, METH_FASTCALL | METH_KEYWORDS,
     receive_response_doc},
    {NULL},
};

/* ------------------------------------------------------------------------ */
/* Client                                                                   */
/* ------------------------------------------------------------------------ */

PyDoc_STRVAR(Client_doc,
"Client(name, *, attach_timeout=5.0, mode=0o600, wait='adaptive', untrusted_peer=False,\n"
"       allow_foreign_owner=False)\n--\n\n"
"Open channel `name` as its client (the responder), waiting up to\n"
"`attach_timeout` seconds (None: forever) for its server.  Raises Timeout when\n"
"no server came, Busy when another client is attached.  Answer each request\n"
"from receive() exactly once: respond(), respond_image(), reserve() or\n"
"respond_error().");

typedef struct {
    const char *name;
    shmemaphore_options *options;
    shmemaphore_channel **out;
} client_open_ctx;

static int step_client_open(ChannelObject *self, int64_t slice, void *context)
{
    client_open_ctx *c = context;
    c->options->attach_timeout_ms = slice;
    return shmemaphore_client_open(c->name, c->options, c->out);
}

static PyObject *Client_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "attach_timeout", "mode", "wait", "untrusted_peer", "allow_foreign_owner", NULL};
    PyObject *name, *attach = NULL;
    unsigned int mode = 0;
    const char *wait = "adaptive";
    int untrusted = 0, foreign = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O$Ispp:Client", kwlist, &name, &attach, &mode, &wait,
                                     &untrusted, &foreign))
        return NULL;
    int64_t attach_ms = 5000;
    if (attach && parse_timeout(attach, &attach_ms, "attach_timeout") < 0)
        return NULL;
    shmemaphore_options o;
    if (build_options(&o, mode, wait, untrusted, foreign) < 0)
        return NULL;
    PyObject *b = name_bytes(name);
    if (!b)
        return NULL;
    ChannelObject *self = channel_alloc(type, name);
    if (!self) {
        Py_DECREF(b);
        return NULL;
    }
    /* No slices: each timed-out open would remove and re-create the
     * semaphores.  A signal ends the attach's 5 ms naps (EINTR). */
    client_open_ctx ctx = {PyBytes_AS_STRING(b), &o, &self->ch};
    int rc = wait_loop(NULL, attach_ms, -1, step_client_open, &ctx);
    Py_DECREF(b);
    if (rc != SHMEMAPHORE_OK) {
        self->ch = NULL;
        self->closed = 1;
        Py_DECREF(self);
        if (rc == WAIT_PYERR)
            return NULL;
        return raise_code(rc, "Client");
    }
    self->role = SHMEMAPHORE_ROLE_CLIENT;
    return (PyObject *)self;
}

typedef struct {
    const uint8_t *request;
    uint64_t length;
} receive_request_ctx;

static int step_receive_request(ChannelObject *self, int64_t slice, void *context)
{
    receive_request_ctx *c = context;
    return shmemaphore_receive_request(self->ch, slice, &c->request, &c->length);
}

PyDoc_STRVAR(receive_doc,
"receive(timeout=None)\n--\n\n"
"Wait up to `timeout` seconds (None: forever) for the next request and return\n"
"it as bytes.  Raises Timeout, PeerGone (the server closed the channel or\n"
"died; the next receive() waits for the next server on the same name),\n"
"Interrupted, KeyboardInterrupt on Ctrl-C, and WrongState while the previous\n"
"request is not answered yet.");

static PyObject *Client_receive(ChannelObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *timeout;
    if (parse_fast("receive", args, nargs, kwnames, 0, NULL, &timeout) < 0)
        return NULL;
    int64_t timeout_ms;
    if (parse_timeout(timeout, &timeout_ms, "timeout") < 0)
        return NULL;
    if (begin_call(self, "receive") < 0)
        return NULL;
    PyObject *result = NULL;
    if (self->request_held) {
        raise_code(SHMEMAPHORE_E_WRONG_STATE,
                   "receive: the previous request is not answered yet (answer it with respond(), "
                   "respond_image(), reserve() or respond_error())");
        unlock_channel(self);
        return NULL;
    }
    receive_request_ctx ctx = {NULL, 0};
    int rc = wait_loop(self, timeout_ms, SLICE_MS, step_receive_request, &ctx);
    if (rc == SHMEMAPHORE_OK) {
        if (ctx.length > (uint64_t)PY_SSIZE_T_MAX)
            raise_code(SHMEMAPHORE_E_TOO_LARGE, "receive");
        else if ((result = PyBytes_FromStringAndSize((const char *)ctx.request, (Py_ssize_t)ctx.length)))
            self->request_held = 1;
    } else if (rc != WAIT_PYERR) {
        raise_code(rc, "receive");
    }
    unlock_channel(self);
    return result;
}

static PyObject *answered(ChannelObject *self, int rc, const char *what)
{
    if (rc == SHMEMAPHORE_OK)
        self->request_held = 0;
    unlock_channel(self);
    if (rc != SHMEMAPHORE_OK)
        return raise_code(rc, what);
    return Py_NewRef(Py_None);
}

/* Send `view` with `metadata`: at once if C-contiguous, else through a
 * reservation that PyBuffer_ToContiguous fills.  Lock held. */
static int send_view(ChannelObject *self, Py_buffer *view, const shmemaphore_metadata *metadata)
{
    int rc;
    if (PyBuffer_IsContiguous(view, 'C')) {
        const void *buf = metadata->bytes ? view->buf : NULL;
        if (view->len <= SMALL_COPY)
            return shmemaphore_send_response(self->ch, metadata, buf);
        Py_BEGIN_ALLOW_THREADS
        rc = shmemaphore_send_response(self->ch, metadata, buf);
        Py_END_ALLOW_THREADS
        return rc;
    }
    void *dst = NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = shmemaphore_reserve(self->ch, metadata->bytes, &dst);
    Py_END_ALLOW_THREADS
    if (rc != SHMEMAPHORE_OK)
        return rc;
    if (PyBuffer_ToContiguous(dst, view, view->len, 'C') < 0)
        return WAIT_PYERR;
    Py_BEGIN_ALLOW_THREADS
    rc = shmemaphore_commit(self->ch, metadata);
    Py_END_ALLOW_THREADS
    return rc;
}

PyDoc_STRVAR(respond_doc,
"respond(payload)\n--\n\n"
"Answer the current request with a copy of `payload` (any buffer-protocol\n"
"object) as raw bytes.  A non-contiguous buffer is gathered straight into\n"
"shared memory.");

static PyObject *Client_respond(ChannelObject *self, PyObject *payload)
{
    Py_buffer view;
    if (PyObject_GetBuffer(payload, &view, PyBUF_FULL_RO) < 0)
        return NULL;
    if (begin_call(self, "respond") < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    shmemaphore_metadata m = {(uint64_t)view.len, 0, 0, 0};
    int rc = send_view(self, &view, &m);
    PyBuffer_Release(&view);
    if (rc == WAIT_PYERR) {
        unlock_channel(self);
        return NULL;
    }
    return answered(self, rc, "respond");
}

PyDoc_STRVAR(respond_image_doc,
"respond_image(array)\n--\n\n"
"Answer the current request with a copy of the uint8 image `array`: shape\n"
"(height, width, channels) or (height, width) for one channel; any object with\n"
"the buffer protocol and format 'B'.  A non-contiguous array is gathered\n"
"straight into shared memory (no error, one copy as always).");

static PyObject *Client_respond_image(ChannelObject *self, PyObject *array)
{
    Py_buffer view;
    if (PyObject_GetBuffer(array, &view, PyBUF_FULL_RO) < 0)
        return NULL;
    const char *fmt = view.format ? view.format : "B";
    if (*fmt == '@' || *fmt == '=' || *fmt == '<' || *fmt == '>' || *fmt == '!' || *fmt == '|')
        fmt++;
    if (view.itemsize != 1 || strcmp(fmt, "B") != 0) {
        PyErr_Format(PyExc_TypeError, "respond_image needs uint8 pixels (buffer format 'B'), got format '%s'",
                     view.format ? view.format : "B");
        PyBuffer_Release(&view);
        return NULL;
    }
    if (view.ndim != 2 && view.ndim != 3) {
        PyErr_Format(PyExc_ValueError, "respond_image needs a (height, width, channels) or (height, width) array, "
                                       "got %d dimensions", view.ndim);
        PyBuffer_Release(&view);
        return NULL;
    }
    uint64_t h = (uint64_t)view.shape[0], w = (uint64_t)view.shape[1];
    uint64_t c = view.ndim == 3 ? (uint64_t)view.shape[2] : 1;
    if (h == 0 || w == 0 || c == 0) {
        PyErr_SetString(PyExc_ValueError, "respond_image: an image needs height, width and channels >= 1");
        PyBuffer_Release(&view);
        return NULL;
    }
    if (begin_call(self, "respond_image") < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    shmemaphore_metadata m = {(uint64_t)view.len, w, h, c};
    int rc = send_view(self, &view, &m);
    PyBuffer_Release(&view);
    if (rc == WAIT_PYERR) {
        unlock_channel(self);
        return NULL;
    }
    return answered(self, rc, "respond_image");
}

PyDoc_STRVAR(respond_error_doc,
"respond_error(code, message='')\n--\n\n"
"Answer the current request with an error: the server's request() raises\n"
"PeerError with peer_code `code` (0 unspecified, 1 not found, 2 bad request\n"
"are the suggested values) and `message` (str without NUL characters).");

static PyObject *Client_respond_error(ChannelObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"code", "message", NULL};
    unsigned long long code;
    PyObject *message = NULL;
    PyObject *code_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|U:respond_error", kwlist, &code_obj, &message))
        return NULL;
    if (!PyLong_Check(code_obj)) {
        PyErr_Format(PyExc_TypeError, "respond_error: code must be an int, not %.100s", Py_TYPE(code_obj)->tp_name);
        return NULL;
    }
    code = PyLong_AsUnsignedLongLong(code_obj);
    if (code == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "respond_error: code must be in 0 .. 2**64-1");
        return NULL;
    }
    const char *text = "";
    Py_ssize_t len = 0;
    if (message) {
        text = PyUnicode_AsUTF8AndSize(message, &len);
        if (!text)
            return NULL;
        if ((size_t)len != strlen(text)) {
            PyErr_SetString(PyExc_ValueError, "respond_error: message contains a NUL character");
            return NULL;
        }
    }
    if (begin_call(self, "respond_error") < 0)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmemaphore_send_error(self->ch, (uint64_t)code, text);
    Py_END_ALLOW_THREADS
    return answered(self, rc, "respond_error");
}

PyDoc_STRVAR(send_image_file_doc,
"send_image_file(path)\n--\n\n"
"Answer the current request with the image file at `path`, decoded by the\n"
"library (stb: PNG, JPEG, BMP, TGA, GIF, PSD, HDR, PIC, PNM).  Returns\n"
"(width, height, channels).  On failure (FileNotFoundError-like SysError,\n"
"ImageDecodeError) nothing is sent: the request is still to be answered.");

static PyObject *Client_send_image_file(ChannelObject *self, PyObject *arg)
{
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(arg, &path))
        return NULL;
    if ((size_t)PyBytes_GET_SIZE(path) != strlen(PyBytes_AS_STRING(path))) {
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, "send_image_file: path contains a NUL character");
        return NULL;
    }
    if (begin_call(self, "send_image_file") < 0) {
        Py_DECREF(path);
        return NULL;
    }
    shmemaphore_metadata sent = {0, 0, 0, 0};
    int rc;
    const char *p = PyBytes_AS_STRING(path);
    Py_BEGIN_ALLOW_THREADS
    rc = shmemaphore_send_image_file(self->ch, p, &sent);
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    PyObject *r = answered(self, rc, "send_image_file");
    if (!r)
        return NULL;
    Py_DECREF(r);
    return Py_BuildValue("(KKK)", (unsigned long long)sent.width, (unsigned long long)sent.height,
                         (unsigned long long)sent.channels);
}

/* reserve(n) / reserve_image(w, h, c): both make a Reservation. */
static PyObject *make_reservation(ChannelObject *self, const shmemaphore_metadata *m, int ndim,
                                  const Py_ssize_t *shape, const char *what)
{
    if (begin_call(self, what) < 0)
        return NULL;
    ReservationObject *r = PyObject_New(ReservationObject, &ReservationType);
    if (!r) {
        unlock_channel(self);
        return NULL;
    }
    r->channel = NULL;
    r->buffer = NULL;
    r->metadata = *m;
    r->ndim = ndim;
    r->nbytes = (Py_ssize_t)m->bytes;
    r->state = RES_DROPPED;
    r->exports = 0;
    r->view_ref = NULL;
    for (int i = 0; i < 3; i++) {
        r->shape[i] = i < ndim ? shape[i] : 0;
    }
    if (ndim == 3) {
        r->strides[2] = 1;
        r->strides[1] = shape[2];
        r->strides[0] = shape[1] * shape[2];
    } else {
        r->strides[0] = 1;
    }
    void *buf = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmemaphore_reserve(self->ch, m->bytes, &buf);
    Py_END_ALLOW_THREADS
    if (rc != SHMEMAPHORE_OK) {
        unlock_channel(self);
        Py_DECREF(r);
        return raise_code(rc, what);
    }
    r->channel = (ChannelObject *)Py_NewRef(self);
    r->buffer = buf;
    r->state = RES_OPEN;
    self->current = (PyObject *)r;
    unlock_channel(self);
    return (PyObject *)r;
}

PyDoc_STRVAR(reserve_doc,
"reserve(nbytes)\n--\n\n"
"Zero-copy answer: reserve `nbytes` bytes in shared memory.  Returns a\n"
"Reservation; use it as a context manager, whose `as` target is a writable\n"
"memoryview of the buffer:\n\n"
"    with client.reserve(n) as buf:\n"
"        buf[:] = ...            # or np.asarray(buf)[...] = ... (a temporary)\n\n"
"When the block ends the buffer is committed as raw bytes and `buf` is\n"
"released.  If the block raises, nothing is committed: the request is answered\n"
"with an error response (code 0, the exception's text) so that the server does\n"
"not wait in vain, and the exception propagates.  A view of the buffer that is\n"
"still alive at commit (a numpy array from np.asarray(buf)) makes the commit\n"
"raise BufferError: delete it, then call commit() again.");

static PyObject *Client_reserve(ChannelObject *self, PyObject *arg)
{
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "reserve: nbytes must be >= 0");
        return NULL;
    }
    shmemaphore_metadata m = {(uint64_t)n, 0, 0, 0};
    Py_ssize_t shape[1] = {n};
    return make_reservation(self, &m, 1, shape, "reserve");
}

PyDoc_STRVAR(reserve_image_doc,
"reserve_image(width, height, channels)\n--\n\n"
"As reserve(), for an image: the `as` target is a writable memoryview of shape\n"
"(height, width, channels), committed as an image.");

static PyObject *Client_reserve_image(ChannelObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"width", "height", "channels", NULL};
    Py_ssize_t w, h, c;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nnn:reserve_image", kwlist, &w, &h, &c))
        return NULL;
    if (w < 1 || h < 1 || c < 1) {
        PyErr_SetString(PyExc_ValueError, "reserve_image: width, height and channels must be >= 1");
        return NULL;
    }
    if (w > PY_SSIZE_T_MAX / h || w * h > PY_SSIZE_T_MAX / c)
        return raise_code(SHMEMAPHORE_E_TOO_LARGE, "reserve_image");
    shmemaphore_metadata m = {(uint64_t)(w * h * c), (uint64_t)w, (uint64_t)h, (uint64_t)c};
    Py_ssize_t shape[3] = {h, w, c};
    return make_reservation(self, &m, 3, shape, "reserve_image");
}

static PyMethodDef Client_methods[] = {
    {"receive", (PyCFunction)(void (*)(void))Client_receive, METH_FASTCALL | METH_KEYWORDS, receive_doc},
    {"respond", (PyCFunction)Client_respond, METH_O, respond_doc},
    {"respond_image", (PyCFunction)Client_respond_image, METH_O, respond_image_doc},
    {"respond_error", (PyCFunction)(void (*)(void))Client_respond_error, METH_VARARGS | METH_KEYWORDS,
     respond_error_doc},
    {"send_image_file", (PyCFunction)Client_send_image_file, METH_O, send_image_file_doc},
    {"reserve", (PyCFunction)Client_reserve, METH_O, reserve_doc},
    {"reserve_image", (PyCFunction)(void (*)(void))Client_reserve_image, METH_VARARGS | METH_KEYWORDS,
     reserve_image_doc},
    {NULL},
};

static PyObject *Client_get_pending(ChannelObject *self, void *c) { return PyBool_FromLong(self->request_held); }

static PyGetSetDef Client_getset[] = {
    {"pending", (getter)Client_get_pending, NULL, "True while a received request is not answered yet.", NULL},
    {NULL},
};

/* ------------------------------------------------------------------------ */
/* Reservation                                                              */
/* ------------------------------------------------------------------------ */

static int Reservation_getbuffer(ReservationObject *self, Py_buffer *view, int flags)
{
    if (self->state != RES_OPEN || !self->channel ||
        self->channel->fork_generation != atomic_load(&g_fork_generation)) {
        PyErr_SetString(PyExc_ValueError, STALE_RESERVATION);
        view->obj = NULL;
        return -1;
    }
    if (self->ndim == 1 || (flags & PyBUF_ND) != PyBUF_ND) {
        if (PyBuffer_FillInfo(view, (PyObject *)self, self->buffer, self->nbytes, 0, flags) < 0) {
            view->obj = NULL;
            return -1;
        }
        self->exports++;
        return 0;
    }
    view->obj = Py_NewRef(self);
    view->buf = self->buffer;
    view->len = self->nbytes;
    view->readonly = 0;
    view->itemsize = 1;
    view->format = (flags & PyBUF_FORMAT) ? "B" : NULL;
    view->ndim = 3;
    view->shape = self->shape;
    view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? self->strides : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    self->exports++;
    return 0;
}

static void Reservation_releasebuffer(ReservationObject *self, Py_buffer *view) { self->exports--; }

static PyBufferProcs Reservation_as_buffer = {
    (getbufferproc)Reservation_getbuffer,
    (releasebufferproc)Reservation_releasebuffer,
};

static void Reservation_dealloc(ReservationObject *self)
{
    if (self->channel && self->channel->current == (PyObject *)self)
        self->channel->current = NULL;
    Py_XDECREF(self->view_ref);
    Py_XDECREF(self->channel);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Reservation_view(ReservationObject *self)
{
    if (self->state != RES_OPEN) {
        PyErr_SetString(PyExc_ValueError, STALE_RESERVATION);
        return NULL;
    }
    if (self->view_ref) {
        PyObject *view = PyWeakref_GetObject(self->view_ref);
        if (view && view != Py_None)
            return Py_NewRef(view);
        Py_CLEAR(self->view_ref);
    }
    PyObject *view = PyMemoryView_FromObject((PyObject *)self);
    if (!view)
        return NULL;
    self->view_ref = PyWeakref_NewRef(view, NULL);
    if (!self->view_ref) {
        Py_DECREF(view);
        return NULL;
    }
    return view;
}

static PyObject *Reservation_get_buffer(ReservationObject *self, void *c) { return Reservation_view(self); }

PyDoc_STRVAR(commit_doc,
"commit(nbytes=None)\n--\n\n"
"Publish the reserved buffer (raw bytes: its first `nbytes` bytes, default all;\n"
"an image: all of it).  The memoryview is released first; BufferError (nothing\n"
"sent) while another view of the buffer is alive.");

static PyObject *Reservation_commit(ReservationObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"nbytes", NULL};
    PyObject *nobj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:commit", kwlist, &nobj))
        return NULL;
    shmemaphore_metadata m = self->metadata;
    if (nobj != Py_None) {
        Py_ssize_t n = PyNumber_AsSsize_t(nobj, PyExc_OverflowError);
        if (n == -1 && PyErr_Occurred())
            return NULL;
        if (self->ndim != 1) {
            PyErr_SetString(PyExc_ValueError, "commit: nbytes is for raw-bytes reservations only");
            return NULL;
        }
        if (n < 0 || n > self->nbytes) {
            PyErr_Format(PyExc_ValueError, "commit: nbytes must be in 0 .. %zd (the reservation)", self->nbytes);
            return NULL;
        }
        m.bytes = (uint64_t)n;
    }
    ChannelObject *ch = self->channel;
    if (self->state != RES_OPEN || !ch) {
        PyErr_SetString(PyExc_ValueError, STALE_RESERVATION);
        return NULL;
    }
    if (check_usable(ch) < 0 || lock_channel(ch) < 0)
        return NULL;
    if (self->state != RES_OPEN || ch->current != (PyObject *)self) {
        unlock_channel(ch);
        PyErr_SetString(PyExc_ValueError, STALE_RESERVATION);
        return NULL;
    }
    if (retire_current(ch, "commit") < 0) {
        unlock_channel(ch);
        return NULL;
    }
    /* retire_current marked it dropped; it is being committed. */
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmemaphore_commit(ch->ch, &m);
    Py_END_ALLOW_THREADS
    self->state = rc == SHMEMAPHORE_OK ? RES_COMMITTED : RES_DROPPED;
    return answered(ch, rc, "commit");
}

PyDoc_STRVAR(cancel_doc,
"cancel(message=None)\n--\n\n"
"Give the buffer up without committing it and answer the request with an error\n"
"response (code 0 and `message`), so that the server does not wait in vain.\n"
"BufferError (nothing sent) while a view of the buffer is alive.");

static PyObject *Reservation_cancel(ReservationObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"message", NULL};
    const char *message = "the response was cancelled";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|z:cancel", kwlist, &message))
        return NULL;
    if (!message)
        message = "the response was cancelled";
    ChannelObject *ch = self->channel;
    if (self->state != RES_OPEN || !ch)
        return Py_NewRef(Py_None);
    if (check_usable(ch) < 0 || lock_channel(ch) < 0)
        return NULL;
    if (self->state != RES_OPEN || ch->current != (PyObject *)self) {
        unlock_channel(ch);
        return Py_NewRef(Py_None);
    }
    if (retire_current(ch, "cancel") < 0) {
        unlock_channel(ch);
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = shmemaphore_send_error(ch->ch, SHMEMAPHORE_PEER_ERROR_UNSPECIFIED, message);
    Py_END_ALLOW_THREADS
    return answered(ch, rc, "cancel");
}

static PyObject *Reservation_enter(ReservationObject *self, PyObject *unused) { return Reservation_view(self); }

static PyObject *Reservation_exit(ReservationObject *self, PyObject *args)
{
    PyObject *type = Py_None, *value = Py_None, *tb = Py_None;
    if (!PyArg_ParseTuple(args, "|OOO:__exit__", &type, &value, &tb))
        return NULL;
    if (type == Py_None) {
        PyObject *r = Reservation_commit(self, PyTuple_New(0), NULL);
        if (!r)
            return NULL;
        Py_DECREF(r);
        Py_RETURN_FALSE;
    }
    /* The block raised: commit nothing, tell the server, let it propagate. */
    PyObject *text = PyUnicode_FromFormat("%s: %S", ((PyTypeObject *)type)->tp_name, value);
    PyObject *targs = NULL, *r = NULL;
    if (text) {
        Py_ssize_t len;
        const char *t = PyUnicode_AsUTF8AndSize(text, &len);
        if (t && (size_t)len == strlen(t))
            targs = Py_BuildValue("(s)", t);
        else {
            PyErr_Clear();
            targs = Py_BuildValue("(s)", "the response failed");
        }
    }
    if (targs)
        r = Reservation_cancel(self, targs, NULL);
    Py_XDECREF(r);
    Py_XDECREF(targs);
    Py_XDECREF(text);
    PyErr_Clear(); /* a failure here must not mask the block's exception */
    Py_RETURN_FALSE;
}

static PyObject *Reservation_get_state(ReservationObject *self, void *c)
{
    return PyUnicode_FromString(self->state == RES_OPEN ? "open" : self->state == RES_COMMITTED ? "committed" : "dropped");
}

static PyObject *Reservation_get_nbytes(ReservationObject *self, void *c) { return PyLong_FromSsize_t(self->nbytes); }

static PyMethodDef Reservation_methods[] = {
    {"commit", (PyCFunction)(void (*)(void))Reservation_commit, METH_VARARGS | METH_KEYWORDS, commit_doc},
    {"cancel", (PyCFunction)(void (*)(void))Reservation_cancel, METH_VARARGS | METH_KEYWORDS, cancel_doc},
    {"__enter__", (PyCFunction)Reservation_enter, METH_NOARGS, "Return the writable memoryview of the buffer."},
    {"__exit__", (PyCFunction)Reservation_exit, METH_VARARGS,
     "Commit (no exception) or cancel with an error response (exception)."},
    {NULL},
};

static PyGetSetDef Reservation_getset[] = {
    {"buffer", (getter)Reservation_get_buffer, NULL, "The writable memoryview (released at commit).", NULL},
    {"nbytes", (getter)Reservation_get_nbytes, NULL, "Size of the reservation in bytes.", NULL},
    {"state", (getter)Reservation_get_state, NULL, "'open', 'committed' or 'dropped'.", NULL},
    {NULL},
};

/* ------------------------------------------------------------------------ */
/* Module functions                                                         */
/* ------------------------------------------------------------------------ */

static int visit_channel(const shmemaphore_channel_info *info, void *context)
{
    PyObject *list = context;
    PyObject *name = PyUnicode_DecodeFSDefault(info->name);
    if (!name)
        return 1;
    PyObject *item = PyObject_CallFunction(g_channel_info, "OIii", name, (unsigned)info->objects,
                                           (int)info->server_locked, (int)info->client_locked);
    Py_DECREF(name);
    if (!item)
        return 1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc < 0 ? 1 : 0;
}

PyDoc_STRVAR(list_channels_doc,
"list_channels()\n--\n\n"
"Every channel with at least one object in /dev/shm, in byte order of the\n"
"names: a list of ChannelInfo(name, objects, server_locked, client_locked).");

static PyObject *mod_list_channels(PyObject *m, PyObject *unused)
{
    if (!g_channel_info) {
        PyErr_SetString(PyExc_RuntimeError, "ChannelInfo is not set");
        return NULL;
    }
    PyObject *list = PyList_New(0);
    if (!list)
        return NULL;
    int rc = shmemaphore_list_channels(visit_channel, list);
    if (PyErr_Occurred()) {
        Py_DECREF(list);
        return NULL;
    }
    if (rc != SHMEMAPHORE_OK) {
        Py_DECREF(list);
        return raise_code(rc, "list_channels");
    }
    return list;
}

PyDoc_STRVAR(remove_channel_doc,
"remove_channel(name, force=False)\n--\n\n"
"Remove the objects a crashed server or client left in /dev/shm for channel\n"
"`name`; returns how many were removed (0-4).  Raises Busy while a live server\n"
"holds the channel, unless force=True.");

static PyObject *mod_remove_channel(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "force", NULL};
    PyObject *name;
    int force = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|p:remove_channel", kwlist, &name, &force))
        return NULL;
    PyObject *b = name_bytes(name);
    if (!b)
        return NULL;
    unsigned removed = 0;
    int rc = shmemaphore_remove_channel(PyBytes_AS_STRING(b), force ? SHMEMAPHORE_REMOVE_FORCE : 0, &removed);
    Py_DECREF(b);
    if (rc != SHMEMAPHORE_OK)
        return raise_code(rc, "remove_channel");
    return PyLong_FromUnsignedLong(removed);
}

static PyObject *mod_error_name(PyObject *m, PyObject *arg)
{
    int code = PyLong_AsLong(arg);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(shmemaphore_error_name(code));
}

static PyObject *mod_strerror(PyObject *m, PyObject *arg)
{
    int code = PyLong_AsLong(arg);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(shmemaphore_strerror(code));
}

PyDoc_STRVAR(fnv1a64_doc,
"fnv1a64(data)\n--\n\n"
"The 64-bit FNV-1a hash of a bytes-like object (offset basis 0xcbf29ce484222325,\n"
"prime 0x100000001b3), as docs/CONFORMANCE.md prints it.  Releases the GIL.");

static PyObject *mod_fnv1a64(PyObject *m, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    const uint8_t *p = view.buf;
    Py_ssize_t n = view.len;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n; k++) {
        hash ^= p[k];
        hash *= UINT64_C(0x100000001b3);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLongLong(hash);
}

static PyObject *mod_set_channel_info(PyObject *m, PyObject *arg)
{
    Py_XSETREF(g_channel_info, Py_NewRef(arg));
    return Py_NewRef(Py_None);
}

static PyMethodDef module_methods[] = {
    {"list_channels", mod_list_channels, METH_NOARGS, list_channels_doc},
    {"remove_channel", (PyCFunction)(void (*)(void))mod_remove_channel, METH_VARARGS | METH_KEYWORDS,
     remove_channel_doc},
    {"error_name", mod_error_name, METH_O, "error_name(code)\n--\n\nSymbolic name of a C status code."},
    {"strerror", mod_strerror, METH_O, "strerror(code)\n--\n\nEnglish description of a C status code."},
    {"fnv1a64", mod_fnv1a64, METH_O, fnv1a64_doc},
    {"_set_channel_info", mod_set_channel_info, METH_O, NULL},
    {NULL},
};

/* ------------------------------------------------------------------------ */
/* Types and module                                                         */
/* ------------------------------------------------------------------------ */

static PyTypeObject ChannelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmemaphore.Channel",
    .tp_doc = "Base of Server and Client: one role on one channel name.",
    .tp_basicsize = sizeof(ChannelObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_dealloc = (destructor)Channel_dealloc,
    .tp_repr = (reprfunc)Channel_repr,
    .tp_methods = Channel_methods,
    .tp_members = Channel_members,
    .tp_getset = Channel_getset,
    .tp_weaklistoffset = offsetof(ChannelObject, weakreflist),
};

static PyTypeObject ServerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmemaphore.Server",
    .tp_doc = Server_doc,
    .tp_basicsize = sizeof(ChannelObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = Server_new,
    .tp_methods = Server_methods,
    .tp_base = &ChannelType,
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmemaphore.Client",
    .tp_doc = Client_doc,
    .tp_basicsize = sizeof(ChannelObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_new = Client_new,
    .tp_methods = Client_methods,
    .tp_getset = Client_getset,
    .tp_base = &ChannelType,
};

static PyTypeObject ResponseType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmemaphore.Response",
    .tp_doc = "A response from the client: metadata, and its payload in shared memory until the channel's "
              "next call.  Made by Server.request(); exports a read-only buffer.",
    .tp_basicsize = sizeof(ResponseObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Response_dealloc,
    .tp_repr = (reprfunc)Response_repr,
    .tp_as_buffer = &Response_as_buffer,
    .tp_as_sequence = &Response_as_sequence,
    .tp_methods = Response_methods,
    .tp_getset = Response_getset,
};

static PyTypeObject ReservationType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmemaphore.Reservation",
    .tp_doc = "A writable buffer in shared memory for a zero-copy answer; made by Client.reserve() and "
              "Client.reserve_image().",
    .tp_basicsize = sizeof(ReservationObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Reservation_dealloc,
    .tp_as_buffer = &Reservation_as_buffer,
    .tp_methods = Reservation_methods,
    .tp_getset = Reservation_getset,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "shmemaphore._shmemaphore",
    "The C extension of the shmemaphore package (use `import shmemaphore`).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__shmemaphore(void)
{
    static int atfork_done;
    if (!atfork_done) {
        pthread_atfork(NULL, NULL, after_fork_child);
        atfork_done = 1;
    }
    PyObject *errors = PyImport_ImportModule("shmemaphore._errors");
    if (!errors)
        return NULL;
    g_class_for_code = PyObject_GetAttrString(errors, "class_for_code");
    g_peer_error = PyObject_GetAttrString(errors, "PeerError");
    PyObject *kind = PyObject_GetAttrString(errors, "Kind");
    Py_DECREF(errors);
    if (!g_class_for_code || !g_peer_error || !kind)
        return NULL;
    for (int i = 0; i < 3; i++) {
        g_kind[i] = PyObject_CallFunction(kind, "i", i);
        if (!g_kind[i]) {
            Py_DECREF(kind);
            return NULL;
        }
    }
    Py_DECREF(kind);

    PyTypeObject *types[] = {&ChannelType, &ServerType, &ClientType, &ResponseType, &ReservationType};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (PyType_Ready(types[i]) < 0)
            return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    const char *names[] = {"Channel", "Server", "Client", "Response", "Reservation"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    if (PyModule_AddStringConstant(m, "version", shmemaphore_version_string()) < 0 ||
        PyModule_AddIntConstant(m, "version_number", (long)shmemaphore_version_number()) < 0 ||
        PyModule_AddIntConstant(m, "protocol_version", (long)shmemaphore_protocol_version()) < 0 ||
        PyModule_AddStringConstant(m, "header_version", SHMEMAPHORE_VERSION_STRING) < 0 ||
        PyModule_AddIntConstant(m, "CHANNEL_NAME_MAX", SHMEMAPHORE_CHANNEL_NAME_MAX) < 0 ||
        PyModule_AddIntConstant(m, "OBJECT_HEAD", SHMEMAPHORE_OBJECT_HEAD) < 0 ||
        PyModule_AddIntConstant(m, "OBJECT_DATA", SHMEMAPHORE_OBJECT_DATA) < 0 ||
        PyModule_AddIntConstant(m, "OBJECT_REQ", SHMEMAPHORE_OBJECT_REQ) < 0 ||
        PyModule_AddIntConstant(m, "OBJECT_RES", SHMEMAPHORE_OBJECT_RES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
