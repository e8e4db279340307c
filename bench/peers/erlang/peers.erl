%% peers.erl -- the benchmarks of `troupe bench`, written for Erlang/OTP.
%%
%% One module, one benchmark per run:
%%   erl -noshell -pa DIR -run peers main BENCH [N [ECHO_NODE]]
%% BENCH is pingpong, counting, threadring, skynet, spawn_mem or remote; N overrides the
%% size (0 or absent: the standard size; skynet wants a power of ten; remote runs N
%% sequential and 25 N pipelined round trips); remote needs the name of a distributed node
%% that has this module on its code path (bench/peers/run.sh starts one).
%%
%% Each figure is one line on stdout, in the format of `troupe bench`:
%%   peer=erlang bench=<name> value=<number> unit=<unit>
%% The definitions are those of docs/benchmarks.md. Every benchmark checks its own result
%% (each reply, a count, a sum) and prints value=error and exits 1 when it is wrong. The
%% clock is erlang:monotonic_time, read inside the VM: start-up is not timed.
-module(peers).
-export([main/1, pong/0]).

-define(RING, 1000).
-define(WINDOW, 1000).
-define(WARMUP, 1000).

main([Bench]) ->
    main([Bench, "0"]);
main([Bench, NArg | Rest]) ->
    N = list_to_integer(NArg),
    Result =
        try run(list_to_atom(Bench), N, Rest) of
            ok -> 0
        catch
            throw:{check, What} ->
                io:format(standard_error, "peers.erl: ~s: check failed: ~p~n", [Bench, What]),
                1;
            Class:Reason:Stack ->
                io:format(standard_error, "peers.erl: ~s: ~p:~p ~p~n",
                          [Bench, Class, Reason, Stack]),
                1
        end,
    case Result of
        0 -> ok;
        _ -> io:format("peer=erlang bench=~s value=error unit=-~n", [Bench])
    end,
    erlang:halt(Result).

%% ---- pingpong: ping sends N, N-1, ..., 1 one at a time; pong echoes each one. -----------

run(pingpong, N0, _) ->
    N = size(N0, 2000000),
    Main = self(),
    Pong = spawn(fun pong/0),
    T0 = now_ns(),
    spawn(fun() -> ping(Pong, N, Main) end),
    receive
        {ping_done, Outcome} -> ok
    end,
    Secs = secs_since(T0),
    check(Outcome =:= ok, Outcome),
    Pong ! stop,
    report("pingpong", N / Secs, "roundtrips/s"),
    report("pingpong_msgs", 2 * N / Secs, "msgs/s");
%% ---- counting: a producer sends 1 N times to a counter, then asks for the count. --------
run(counting, N0, _) ->
    N = size(N0, 10000000),
    Main = self(),
    Counter = spawn(fun() -> counter(0) end),
    T0 = now_ns(),
    spawn(fun() -> producer(Counter, N, Main) end),
    receive
        {count, Count} -> ok
    end,
    Secs = secs_since(T0),
    Counter ! stop,
    check(Count =:= N, {count, Count, expected, N}),
    report("counting", N / Secs, "msgs/s");
%% ---- threadring: a token decremented at each hop around a ring of 1,000 processes. -----
run(threadring, N0, _) ->
    Hops = size(N0, 10000000),
    Main = self(),
    Ring = [spawn(fun() -> ring_setup(Main) end) || _ <- lists:seq(1, ?RING)],
    Next = tl(Ring) ++ [hd(Ring)],
    lists:foreach(fun({P, Nx}) -> P ! {setup, Nx} end, lists:zip(Ring, Next)),
    lists:foreach(fun(P) -> receive {ack, P} -> ok end end, Ring),
    T0 = now_ns(),
    hd(Ring) ! Hops,
    receive
        ring_done -> Outcome = ok;
        {ring_bad, Token} -> Outcome = {bad_token, Token}
    end,
    Secs = secs_since(T0),
    lists:foreach(fun(P) -> P ! stop end, Ring),
    check(Outcome =:= ok, Outcome),
    report("threadring", Hops / Secs, "hops/s");
%% ---- skynet: a tree of 10 children per node; leaves send their number, parents sum. ----
run(skynet, N0, _) ->
    Leaves = size(N0, 1000000),
    check(is_power_of_ten(Leaves), {not_a_power_of_ten, Leaves}),
    Main = self(),
    T0 = now_ns(),
    spawn(fun() -> skynet(Main, 0, Leaves) end),
    receive
        {sum, Sum} -> ok
    end,
    Ms = secs_since(T0) * 1000,
    check(Sum =:= Leaves * (Leaves - 1) div 2, {sum, Sum}),
    report("skynet", Ms, "ms");
%% ---- spawn_mem: RSS per idle process, once every process waits in its receive. --------
run(spawn_mem, N0, _) ->
    N = size(N0, 1000000),
    garbage_collect(),
    Before = rss(),
    T0 = now_ns(),
    spawn_idle(N),
    wait_run_queues_empty(),
    Secs = secs_since(T0),
    After = rss(),
    report("spawn_mem_rss", (After - Before) / N, "bytes/actor"),
    report("spawn_rate", N / Secs, "spawns/s");
%% ---- remote: pingpong with a process on another node, over loopback TCP. ---------------
run(remote, N0, [EchoNodeName | _]) ->
    EchoNode = list_to_atom(EchoNodeName),
    connect(EchoNode, 500),
    Pong = spawn(EchoNode, ?MODULE, pong, []),
    Seq = size(N0, 20000),
    Pipe = case N0 of
               0 -> 500000;
               _ -> 25 * N0
           end,
    ok = pipeline(Pong, ?WARMUP, 1),
    T0 = now_ns(),
    ok = pipeline(Pong, Seq, 1),
    SeqSecs = secs_since(T0),
    T1 = now_ns(),
    ok = pipeline(Pong, Pipe, ?WINDOW),
    PipeSecs = secs_since(T1),
    Pong ! stop,
    spawn(EchoNode, erlang, halt, []),
    report("remote_pingpong_seq", Seq / SeqSecs, "roundtrips/s"),
    report("remote_pingpong_seq_rtt", SeqSecs * 1.0e6 / Seq, "us"),
    report("remote_pingpong_pipe1000", Pipe / PipeSecs, "roundtrips/s"),
    report("remote_pingpong_pipe1000_msgs", 2 * Pipe / PipeSecs, "msgs/s");
run(Bench, _, _) ->
    throw({check, {unknown_benchmark, Bench}}).

%% ---- the processes ----------------------------------------------------------------------

pong() ->
    receive
        {From, I} ->
            From ! I,
            pong();
        stop ->
            ok
    end.

ping(_Pong, 0, Main) ->
    Main ! {ping_done, ok};
ping(Pong, I, Main) ->
    Pong ! {self(), I},
    receive
        I -> ping(Pong, I - 1, Main);
        Other -> Main ! {ping_done, {expected, I, got, Other}}
    end.

counter(Count) ->
    receive
        I when is_integer(I) -> counter(Count + I);
        {get, From} ->
            From ! {count, Count},
            counter(Count);
        stop -> ok
    end.

producer(Counter, N, Main) ->
    send_ones(Counter, N),
    Counter ! {get, self()},
    receive
        {count, Count} -> Main ! {count, Count}
    end.

send_ones(_, 0) ->
    ok;
send_ones(Counter, K) ->
    Counter ! 1,
    send_ones(Counter, K - 1).

ring_setup(Main) ->
    receive
        {setup, Next} ->
            Main ! {ack, self()},
            ring(Next, Main)
    end.

ring(Next, Main) ->
    receive
        0 ->
            Main ! ring_done,
            ring(Next, Main);
        Token when is_integer(Token), Token > 0 ->
            Next ! Token - 1,
            ring(Next, Main);
        Token when is_integer(Token) ->
            Main ! {ring_bad, Token},
            ring(Next, Main);
        stop ->
            ok
    end.

skynet(Parent, Num, 1) ->
    Parent ! {sum, Num};
skynet(Parent, Num, Size) ->
    Self = self(),
    Sub = Size div 10,
    lists:foreach(fun(I) -> spawn(fun() -> skynet(Self, Num + I * Sub, Sub) end) end,
                  lists:seq(0, 9)),
    Parent ! {sum, collect(10, 0)}.

collect(0, Sum) ->
    Sum;
collect(K, Sum) ->
    receive
        {sum, V} -> collect(K - 1, Sum + V)
    end.

spawn_idle(0) ->
    ok;
spawn_idle(K) ->
    spawn(fun idle/0),
    spawn_idle(K - 1).

idle() ->
    receive
        stop -> ok
    end.

%% Sends 1..N to Pong with at most Window in flight; each reply must be the next number
%% (per-pair FIFO), so a lost, duplicated or reordered message fails the run.
pipeline(Pong, N, Window) ->
    First = min(N, Window),
    lists:foreach(fun(I) -> Pong ! {self(), I} end, lists:seq(1, First)),
    pipeline_wait(Pong, N, First, 1).

pipeline_wait(_Pong, N, _Sent, Expected) when Expected > N ->
    ok;
pipeline_wait(Pong, N, Sent, Expected) ->
    receive
        Expected when Sent < N ->
            Pong ! {self(), Sent + 1},
            pipeline_wait(Pong, N, Sent + 1, Expected + 1);
        Expected ->
            pipeline_wait(Pong, N, Sent, Expected + 1);
        Other ->
            throw({check, {expected, Expected, got, Other}})
    after 30000 ->
        throw({check, {no_reply_for, Expected}})
    end.

%% ---- helpers ----------------------------------------------------------------------------

size(0, Default) -> Default;
size(N, _) when N > 0 -> N.

check(true, _) -> ok;
check(false, What) -> throw({check, What}).

is_power_of_ten(1) -> true;
is_power_of_ten(N) when N >= 10, N rem 10 =:= 0 -> is_power_of_ten(N div 10);
is_power_of_ten(_) -> false.

now_ns() -> erlang:monotonic_time(nanosecond).

secs_since(T0) -> max(now_ns() - T0, 1) / 1.0e9.

connect(Node, 0) ->
    throw({check, {cannot_reach, Node}});
connect(Node, Tries) ->
    case net_adm:ping(Node) of
        pong -> ok;
        pang ->
            timer:sleep(20),
            connect(Node, Tries - 1)
    end.

wait_run_queues_empty() ->
    case erlang:statistics(total_run_queue_lengths_all) of
        0 -> ok;
        _ ->
            timer:sleep(1),
            wait_run_queues_empty()
    end.

%% VmRSS of this OS process, in bytes.
rss() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    {match, [Kb]} = re:run(Status, "VmRSS:\\s+(\\d+) kB", [{capture, all_but_first, list}]),
    list_to_integer(Kb) * 1024.

report(Bench, Value, "ms") ->
    io:format("peer=erlang bench=~s value=~.1f unit=ms~n", [Bench, float(Value)]);
report(Bench, Value, Unit) ->
    io:format("peer=erlang bench=~s value=~b unit=~s~n", [Bench, round(Value), Unit]).
