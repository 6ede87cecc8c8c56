// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The admin listener's hashing thread (admin_int.h): a password check costs
 * ~100 ms of yescrypt, which the main loop -- health checks, exlbctl, the
 * kernel tick, /metrics -- must not spend. One thread takes jobs from a
 * queue bounded at EXLB_ADMIN_HASH_QUEUE, runs exlb_admin_hash_run() on
 * each, and hands the verdicts back to the main loop through an ev_async.
 * One thread is enough: logons are rare, and it caps what a storm of bad
 * passwords can take to one core.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ev.h>

#include "admin_int.h"

struct exlb_admin_hasher {
	ev_async async;			/* verdicts are in */
	struct ev_loop *loop;
	void (*verdict)(struct exlb_admin_hash_job *job, void *arg);
	void *arg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock */
	struct exlb_admin_hash_job *todo, **todo_tail;	/* FIFO */
	struct exlb_admin_hash_job *done, **done_tail;
	unsigned int in;		/* submitted, not yet delivered */
	bool stop;
};

static void *hasher_main(void *arg)
{
	struct exlb_admin_hasher *h = arg;
	struct exlb_admin_hash_job *job;

	/*
	 * Below the main loop and the proxy's workers (nice 10: about a
	 * tenth of a busy core's share): where cores are scarce a logon
	 * waits, not the traffic or the loop. Failing that, it runs as is.
	 */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10))
		(void)0;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (!h->todo && !h->stop)
			pthread_cond_wait(&h->cond, &h->lock);
		if (h->stop)
			break;
		job = h->todo;
		h->todo = job->next;
		if (!h->todo)
			h->todo_tail = &h->todo;
		pthread_mutex_unlock(&h->lock);
		exlb_admin_hash_run(job);
		pthread_mutex_lock(&h->lock);
		job->next = NULL;
		*h->done_tail = job;
		h->done_tail = &job->next;
		ev_async_send(h->loop, &h->async);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static void verdicts_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct exlb_admin_hasher *h = (struct exlb_admin_hasher *)w;
	struct exlb_admin_hash_job *list, *next;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&h->lock);
	list = h->done;
	h->done = NULL;
	h->done_tail = &h->done;
	for (struct exlb_admin_hash_job *j = list; j; j = j->next)
		h->in--;
	pthread_mutex_unlock(&h->lock);
	for (; list; list = next) {
		next = list->next;
		list->next = NULL;
		h->verdict(list, h->arg);
	}
}

struct exlb_admin_hasher *exlb_admin_hasher_new(struct ev_loop *loop,
		void (*verdict)(struct exlb_admin_hash_job *job, void *arg),
		void *arg)
{
	struct exlb_admin_hasher *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->loop = loop;
	h->verdict = verdict;
	h->arg = arg;
	h->todo_tail = &h->todo;
	h->done_tail = &h->done;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	ev_async_init(&h->async, verdicts_cb);
	ev_async_start(loop, &h->async);
	if (pthread_create(&h->thread, NULL, hasher_main, h)) {
		ev_async_stop(loop, &h->async);
		pthread_cond_destroy(&h->cond);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	pthread_setname_np(h->thread, "exlbd-hash");
	return h;
}

int exlb_admin_hasher_submit(struct exlb_admin_hasher *h,
			     struct exlb_admin_hash_job *job)
{
	int ret = -1;

	pthread_mutex_lock(&h->lock);
	if (h->in < EXLB_ADMIN_HASH_QUEUE) {
		h->in++;
		job->next = NULL;
		*h->todo_tail = job;
		h->todo_tail = &job->next;
		pthread_cond_signal(&h->cond);
		ret = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static void free_list(struct exlb_admin_hash_job *j)
{
	struct exlb_admin_hash_job *next;

	for (; j; j = next) {
		next = j->next;
		exlb_admin_hash_job_free(j);
	}
}

void exlb_admin_hasher_free(struct exlb_admin_hasher *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);	/* at most one hash away */
	ev_async_stop(h->loop, &h->async);
	free_list(h->todo);
	free_list(h->done);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
