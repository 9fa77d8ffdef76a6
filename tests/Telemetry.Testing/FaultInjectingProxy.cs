using System.Net;

namespace Telemetry.Testing;

/// <summary>
/// An HTTP proxy in front of ClickHouse that answers chosen INSERTs with an error instead of
/// forwarding them, to see what the sink resends; it serves requests concurrently and can hold
/// each INSERT for a while, to see how many the sink keeps in flight.
/// </summary>
public sealed class FaultInjectingProxy : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly HttpClient _client = new();
    private readonly Uri _target;
    private readonly Func<int, bool> _fail;
    private readonly TimeSpan _insertDelay;
    private readonly Task _loop;
    private int _inserts;
    private int _failed;
    private int _inFlight;
    private int _maxInFlight;

    /// <param name="fail">Given the 1-based number of an INSERT request, whether to fail it.</param>
    /// <param name="insertDelay">How long each INSERT is held before it is answered or forwarded.</param>
    public FaultInjectingProxy(Uri target, int port, Func<int, bool> fail, TimeSpan insertDelay = default)
    {
        _target = target;
        _fail = fail;
        _insertDelay = insertDelay;
        Url = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(Url.ToString());
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public Uri Url { get; }

    public int Inserts => Volatile.Read(ref _inserts);

    public int Failed => Volatile.Read(ref _failed);

    /// <summary>The most INSERT requests that were being served at once.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public void Dispose()
    {
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _client.Dispose();
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(context));
        }
    }

    private async Task ServeAsync(HttpListenerContext context)
    {
        try
        {
            await HandleAsync(context);
        }
        catch (Exception ex) when (ex is HttpListenerException or HttpRequestException or ObjectDisposedException or IOException)
        {
            // The listener closed or a side hung up; the client sees the connection drop.
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        using var body = new MemoryStream();
        await context.Request.InputStream.CopyToAsync(body);
        // ClickHouse.Driver sends the INSERT statement at the start of the body, the rows after it.
        bool insert = body.Length > 6 && "INSERT"u8.SequenceEqual(body.GetBuffer().AsSpan(0, 6));
        if (!insert)
        {
            await ForwardAsync(context, body);
            return;
        }

        int number = Interlocked.Increment(ref _inserts);
        int inFlight = Interlocked.Increment(ref _inFlight);
        for (int max = Volatile.Read(ref _maxInFlight); inFlight > max; max = Volatile.Read(ref _maxInFlight))
        {
            Interlocked.CompareExchange(ref _maxInFlight, inFlight, max);
        }

        // An insert stops counting as in flight just before its answer goes out: once the client
        // has it, it may send the next insert, which must not find this one still counted.
        int released = 0;
        void Release()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        try
        {
            await Task.Delay(_insertDelay);
            if (_fail(number))
            {
                Interlocked.Increment(ref _failed);
                Release();
                await RefuseAsync(context);
            }
            else
            {
                await ForwardAsync(context, body, Release);
            }
        }
        finally
        {
            Release();
        }
    }

    private static async Task RefuseAsync(HttpListenerContext context)
    {
        context.Response.StatusCode = 500;
        byte[] message = "Code: 999. DB::Exception: injected failure"u8.ToArray();
        // A fixed length, never chunked: HttpListener on Linux can leave a chunked response's
        // last chunk for the next response on a kept-alive connection, which the client then
        // reads as a status line of '0'.
        context.Response.ContentLength64 = message.Length;
        await context.Response.OutputStream.WriteAsync(message);
        context.Response.Close();
    }

    private async Task ForwardAsync(HttpListenerContext context, MemoryStream body, Action? beforeAnswer = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.HttpMethod), new Uri(_target, context.Request.Url!.PathAndQuery));
        if (context.Request.HttpMethod != "GET")
        {
            request.Content = new ByteArrayContent(body.ToArray());
        }

        foreach (string? name in context.Request.Headers.AllKeys)
        {
            if (name is null || name is "Host" or "Content-Length" or "Transfer-Encoding" or "Connection" or "Expect")
            {
                continue;
            }

            string value = context.Request.Headers[name]!;
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using HttpResponseMessage response = await _client.SendAsync(request);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var header in response.Headers.Concat(response.Content.Headers))
        {
            if (header.Key is "Transfer-Encoding" or "Content-Length" or "Connection" or "Keep-Alive")
            {
                continue;
            }

            context.Response.Headers[header.Key] = string.Join(",", header.Value);
        }

        byte[] answer = await response.Content.ReadAsByteArrayAsync();
        beforeAnswer?.Invoke();
        context.Response.ContentLength64 = answer.Length;
        await context.Response.OutputStream.WriteAsync(answer);
        context.Response.Close();
    }
}
